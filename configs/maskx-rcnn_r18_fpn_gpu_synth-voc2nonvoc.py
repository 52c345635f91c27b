# MaskX R-CNN (mask weights w_seg^c = T(w_det^c) from the box head) on the synthetic benchmark, voc2nonvoc
# (masks for the voc-like categories only; the nonvoc-like categories are box-only and scored as unseen);
# sized for one GPU.
_base_ = ['./_base_/models/maskx-rcnn_r18_fpn_scratch.py', './_base_/datasets/synth_voc2nonvoc.py',
          './_base_/schedules/schedule_synth_gpu.py']

# GPU-sized: 16 images per iteration, the paper's batch (lr 0.02 in the schedule).
train_dataloader = dict(batch_size=16, num_workers=8)
