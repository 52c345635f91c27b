# Mask GrabCut (Faster R-CNN boxes, GrabCut masks) on the synthetic benchmark, nonvoc2voc
# (boxes of every category train the detector; scored on the voc-like categories as unseen);
# sized for a 2-core CPU.
_base_ = ['./_base_/models/grabcut-faster-rcnn_r18_fpn_scratch.py', './_base_/datasets/synth_nonvoc2voc.py',
          './_base_/schedules/schedule_synth_cpu.py']
