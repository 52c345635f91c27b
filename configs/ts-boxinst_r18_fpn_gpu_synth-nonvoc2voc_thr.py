# Teacher-student mask heads on partially supervised BoxInst with r(Mt) = Mt >= 0.5 on the synthetic
# benchmark, nonvoc2voc (masks for the nonvoc-like categories only; the voc-like categories are box-only and
# scored as unseen); sized for one GPU.
_base_ = ['./_base_/models/ts-boxinst_r18_fpn_scratch.py', './_base_/datasets/synth_nonvoc2voc.py',
          './_base_/schedules/schedule_synth_gpu.py']

# GPU-sized: 16 images per iteration with BoxInst's own lr for that batch (0.01, Sec. 4.3: its settings are kept).
train_dataloader = dict(batch_size=16, num_workers=8)
optim_wrapper = dict(optimizer=dict(lr=0.01))
model = dict(mask_head=dict(warmup_iters=333))  # pairwise term ramps up over 1/9 of the 3000 iterations
