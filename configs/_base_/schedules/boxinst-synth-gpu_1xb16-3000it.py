# MIXIN (hardware sizing): synth-gpu_1xb16-3000it.py for the BoxInst configs, which keep BoxInst's own lr for a batch
# of 16 (0.01, Sec. 4.3: the baselines' settings are kept) and its pairwise-term warm-up at 1/9 of training.
_base_ = './synth-gpu_1xb16-3000it.py'

optim_wrapper = dict(optimizer=dict(lr=0.01))
model = dict(mask_head=dict(warmup_iters=333))  # pairwise term ramps up over 1/9 of the 3000 iterations
