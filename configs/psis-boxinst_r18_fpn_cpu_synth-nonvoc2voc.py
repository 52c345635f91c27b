# Partially supervised BoxInst on the synthetic benchmark, nonvoc2voc (masks for the nonvoc-like categories only; the
# voc-like categories are box-only and scored as unseen); sized for a 2-core CPU.
_base_ = ['./_base_/models/psis-boxinst_r18_fpn_scratch.py', './_base_/datasets/synth_nonvoc2voc.py',
          './_base_/schedules/schedule_synth_cpu.py']
