# Pseudo-label warm-up (not in the paper): unseen objects train the student only from half-way through the schedule,
# once the from-scratch teacher makes masks worth learning from (the paper's teacher starts from ImageNet weights).
# 150 of the 300-iteration base schedule; `tspsis train --max-iters` rescales it with the schedule. Chosen for the
# box-conditioned track on held-out data (synthetic data of generator seed 1, never the val images): README, Results.
model = dict(roi_head=dict(pseudo_labeler=dict(warmup_iters=150)))
