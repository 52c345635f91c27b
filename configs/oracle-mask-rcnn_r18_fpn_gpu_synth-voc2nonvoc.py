# Oracle: class-specific Mask R-CNN trained with the masks of all categories, scored on the unseen
# categories of voc2nonvoc on the synthetic benchmark; sized for one GPU.
_base_ = ['./_base_/models/mask-rcnn_r18_fpn_scratch.py', './_base_/datasets/synth_oracle_voc2nonvoc.py',
          './_base_/schedules/schedule_synth_gpu.py']

# GPU-sized: 16 images per iteration, the paper's batch (lr 0.02 in the schedule).
train_dataloader = dict(batch_size=16, num_workers=8)
