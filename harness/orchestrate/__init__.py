"""The orchestrator process: plan the dependency DAG of the requested rows, run each row once
(locks handed down to the workers, orphans waited for, resume decisions, --force archiving),
launch workers (local, torchrun, SLURM), dump and check the proposals detectors depend on, merge
Table 5's 4-step checkpoints, and report status. Under SLURM the DAG is SLURM's: slurm_sweep.py
submits a job per row and per dump (job.py runs inside each; slurm.py is the only caller of
SLURM's tools), adopt.py follows the jobs kept next to the runs, finalize.py turns an outcome
into a record wherever the worker ended.

Never imports torch/mmdet at module level: it starts worker processes that do."""
