# Mask GrabCut (Faster R-CNN boxes, GrabCut masks) on the synthetic benchmark, nonvoc2voc
# (boxes of every category train the detector; scored on the voc-like categories as unseen);
# sized for one GPU.
_base_ = ['./_base_/models/grabcut-faster-rcnn_r18_fpn_scratch.py', './_base_/datasets/synth_nonvoc2voc.py',
          './_base_/schedules/schedule_synth_gpu.py']

# GPU-sized: 16 images per iteration, the paper's batch (lr 0.02 in the schedule).
train_dataloader = dict(batch_size=16, num_workers=8)
