"""Hooks: crash-safe checkpoints, the pseudo-mask monitor and the teacher's coverage of the unseen categories."""
