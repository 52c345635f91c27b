# OPMask (class-agnostic mask head fed the CAM of the object's class) on the synthetic benchmark, voc2nonvoc
# (masks for the voc-like categories only; the nonvoc-like categories are box-only and scored as unseen);
# sized for a 2-core CPU.
_base_ = ['./_base_/models/opmask_r18_fpn_scratch.py', './_base_/datasets/synth_voc2nonvoc.py',
          './_base_/schedules/schedule_synth_cpu.py']
