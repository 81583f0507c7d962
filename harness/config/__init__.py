"""From a row to the exact MMDetection config a worker runs: the row's config file, a profile
overlay (paper / smoke), the data root, schedule fitting for fewer GPUs, and the config hash that
identifies the experiment. `audit` checks resolved configs against the paper's stated settings;
`anchors` computes Table 1's #anchors column.

May import mmengine's Config (no torch); only anchors' cross-check with mmdet's own generator
imports mmdet."""
