"""Optimizer wrappers: bf16 autocast on CPUs that compute bf16 natively (CPUBF16OptimWrapper)."""
