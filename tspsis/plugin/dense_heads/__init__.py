"""Partially supervised BoxInst and BoxInst + teacher-student (dense heads)."""
