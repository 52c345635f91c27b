"""Data preprocessors that keep the RGB image for r(.) and, for BoxInst, the annotated masks and LAB colours."""
