"""What the paper says, as data: its tables and rows (registry over paper_configs/published.yaml),
the published numbers, the claims in its text, other reproductions' numbers, and the constants
its experiments fix (8 GPUs, 16 images per mini-batch, ...).

Imports nothing but the standard library, yaml and harness.errors/paths: no torch, no mmdet."""
