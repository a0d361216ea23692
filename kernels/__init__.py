"""Kernel renderers: the scheduled kernel IR as OpenCL C (and Triton) source."""
