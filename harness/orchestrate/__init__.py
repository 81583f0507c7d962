"""The orchestrator process: plan the dependency DAG of the requested rows, run each row once
(locks handed down to the workers, orphans waited for, resume decisions, --force archiving),
launch workers (local, torchrun, SLURM), dump and check the
proposals detectors depend on, merge Table 5's 4-step checkpoints, and report status.

Never imports torch/mmdet at module level: it starts worker processes that do."""
