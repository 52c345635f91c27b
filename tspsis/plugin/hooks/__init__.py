"""Hooks: crash-safe checkpoints and the pseudo-mask monitor."""
