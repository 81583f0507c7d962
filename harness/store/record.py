"""The run record: the only definition of what a record holds (schema version RECORD_SCHEMA).

One JSON file per run (results/runs/<row>/<profile>/seed<k>/record.json). The orchestrator
builds a `Record` when a row finishes; reports, status, tidy CSV and tests read records through
`Record.from_dict`, which rejects a malformed file with one line naming the field. Fields a
later harness adds and this one does not know are kept (`extra`) and written back unchanged."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from enum import Enum

RECORD_SCHEMA = 1


class Status(str, Enum):
    """A row's state. A record is `done` or `failed`; the others exist only in plans and status."""
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"      # a producer it depends on failed
    STOPPED = "stopped"      # killed with a checkpoint: a re-run resumes it
    CORRUPT = "corrupt"      # its record file cannot be read: a re-run starts it over

    def __str__(self) -> str:
        return self.value


# reproduction.reasons[i].kind -> how "At a glance" sums up runs not judged for that reason
# (harness/orchestrate/reproduction.py writes the reasons; the README's "What its numbers
# mean" explains them).
# In this order in a record: the first reason, the one a report shows, is the weightiest.
REASON_KINDS = {
    "profile": "not the paper profile",
    "schedule": "schedule changed",
    "data": "not full-size COCO",
    "weights": "backbone weights not the published ones",
    "producer": "built on runs that are not reproductions",
    "setting": "settings differ from the paper",
    "config": "config changed by --cfg-options",
}


class RecordError(ValueError):
    """A record file that is not a valid record; the message is one line."""


@dataclass
class Record:
    row: str
    profile: str
    status: str
    table: str = ""
    row_name: str = ""
    seed: int = 0
    is_reproduction: bool = False                         # no reason below: the paper's experiment
    # judged (may enter verdicts and claims), reasons [{kind, text}], allow_deviations,
    # pretrained_equivalent: decided when the record is written (harness/orchestrate/reproduction.py)
    reproduction: dict | None = None
    reason: str | None = None
    metrics: dict = field(default_factory=dict)           # paper column -> percent (None: n/a)
    metrics_na: list = field(default_factory=list)        # columns without objects of that size
    raw_metrics: dict = field(default_factory=dict)       # the evaluator's keys, fractions
    metric_source: str | None = None
    config: dict = field(default_factory=dict)            # row_config, resolved, hash
    schedule: dict | None = None
    deviations: list = field(default_factory=list)        # how this run departs from the paper
    paper_deviations: dict | None = None                  # the resolved config's declarations
    cfg_options: dict = field(default_factory=dict)
    proposals: dict | None = None                         # producer, checkpoint_sha256, files
    init_from: dict | None = None                         # Table 5 steps 3-4
    merged_from: dict | None = None                       # Table 5 "yes"
    test_dev: dict | None = None                          # Table 4's result file
    iterations: int | None = None
    runtime: dict | None = None                           # inference s/image on this device
    preflight: dict | None = None                         # --preflight: s/iter, peak memory
    resumed: bool = False
    resumed_from_iteration: int | None = None
    lr_used: dict | None = None                           # first / peak / last LR MMEngine used
    images_per_batch: int | None = None
    images_per_step: int | None = None
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    pretrained: list | None = None                        # ImageNet files init loaded: source, path, sha256
    data: dict = field(default_factory=dict)              # root, annotations (sha256_16)
    code: dict = field(default_factory=dict)              # git commit, dirty
    packages: dict = field(default_factory=dict)
    host: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)       # device, num_gpus, world_size
    launcher: str | None = None
    processes: int | None = None
    slurm_job: str | None = None                          # the SLURM job that ran it
    work_dir: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    wall_time_s: float | None = None
    gpu_hours: float | None = None
    same_as: str | None = None                            # an alias row: whose run this is
    same_as_record: str | None = None
    schema: int = RECORD_SCHEMA
    extra: dict = field(default_factory=dict)             # keys of a newer harness, kept as is

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        out["status"] = str(self.status)
        return {**self.extra, **out}

    @classmethod
    def from_dict(cls, data: object) -> "Record":
        if not isinstance(data, dict):
            raise RecordError("not a JSON object")
        for key, typ in _REQUIRED.items():
            if not isinstance(data.get(key), typ):
                raise RecordError(f"field '{key}' missing or not {typ.__name__}")
        if data["schema"] > RECORD_SCHEMA:
            raise RecordError(f"schema {data['schema']} is newer than this harness ({RECORD_SCHEMA})")
        for name, value in data["metrics"].items():
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise RecordError(f"metric '{name}' is not a finite number")
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known and not k.startswith("_")})


_REQUIRED = {"schema": int, "row": str, "profile": str, "status": str, "metrics": dict}
