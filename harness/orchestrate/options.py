"""What one `harness run` asks for, shared by every row it runs."""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

from harness.config.profiles import Profile
from harness.orchestrate.launch import Launch


@dataclass
class RunOptions:
    profile: Profile
    data_root: object = None             # Path of the data the rows read (resolved)
    force: bool = False
    seed: int = 0
    pretrained: dict[str, str] | None = None   # resnet50 / resnet101 -> ImageNet checkpoint
    cfg_options: dict = field(default_factory=dict)
    launch: Launch = field(default_factory=Launch)
    worker_threads: int | None = None   # OMP_NUM_THREADS for local workers (None: torch's default)
    # Judgement (recorded in reproduction): judge a run that is not a reproduction anyway, with
    # its reasons beside every verdict; a --pretrained file declared equivalent to the published.
    allow_deviations: bool = False
    pretrained_equivalent: bool = False


def default_slots(profile: Profile, launch: Launch) -> int:
    """Smoke rows on a CPU spend much of their time in single-threaded start-up, data loading and
    evaluation: one row per core (1 thread each) finished Tables 1-3 in 335 s instead of 457 s
    on 2 cores (benchmarks/smoke_sweep.py prints both). Real runs: one row at a time unless asked."""
    if profile.is_reproduction or launch.launcher != "local" or profile.stop_after_iters:
        # (a preflight measures time: its rows must not share the machine)
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
