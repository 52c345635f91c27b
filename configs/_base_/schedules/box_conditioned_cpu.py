# MIXIN (hardware sizing) of the box-conditioned track on a 2-core CPU: narrower features and the track's schedule.
# PLACEHOLDER: the content is the lead's (it lands with the box-conditioned track); applied after
# _base_/tracks/box_conditioned.py, e.g.
#   tspsis train configs/mask_rcnn_ts/ts-mask-rcnn_r18-scratch_fpn_1xb4-300it_synth-voc2nonvoc.py \
#       --mixin configs/_base_/tracks/box_conditioned.py --mixin configs/_base_/schedules/box_conditioned_cpu.py ...
