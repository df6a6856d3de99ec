"""Bias and similarity kernels: pure array-in, array-out functions (CPU or CUDA)."""
