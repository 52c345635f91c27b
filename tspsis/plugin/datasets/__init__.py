"""PartialCocoDataset: box-only instances with a per-instance has_mask flag."""
