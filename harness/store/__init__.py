"""What a run leaves behind, and nothing else: the record (the schema, record.py), the worker's
outcome (outcome.py), the SLURM job it was handed to (job.py), the paths inside a run directory
(rundir.py), the results store (results.py), atomic writes (atomic.py: a reader never sees half
a file), file-system errors as one line (fs.py: a full disk, an unwritable folder) and provenance.

No torch/mmdet imports."""
from harness.store.atomic import atomic_file, write_json_atomic, write_text_atomic
from harness.store.job import SubmittedJob
from harness.store.outcome import WorkerOutcome
from harness.store.record import RECORD_SCHEMA, Record, RecordError, Status
from harness.store.results import BadRecord, Store
from harness.store.rundir import RunDir

__all__ = ["RECORD_SCHEMA", "BadRecord", "Record", "RecordError", "RunDir", "Status", "Store",
           "SubmittedJob", "WorkerOutcome", "atomic_file", "write_json_atomic", "write_text_atomic"]
