"""Loading transforms that keep gt_has_mask aligned with the instances (and cache decoded images)."""
