"""Helpers the heads share: partial supervision (has_mask, seen union masks, RGB crops)."""
