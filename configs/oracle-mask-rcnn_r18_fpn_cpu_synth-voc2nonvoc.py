# Oracle: class-specific Mask R-CNN trained with the masks of all categories, scored on the unseen
# categories of voc2nonvoc on the synthetic benchmark; sized for a 2-core CPU.
_base_ = ['./_base_/models/mask-rcnn_r18_fpn_scratch.py', './_base_/datasets/synth_oracle_voc2nonvoc.py',
          './_base_/schedules/schedule_synth_cpu.py']
