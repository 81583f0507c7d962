"""`harness run ... --preflight`: does every planned row run here as the paper profile would run
it, and what will its full schedule cost on this launcher?

Each row runs with the `preflight` profile (harness/config/profiles.py): the paper profile's
resolved config (model, input size, proposal and RoI counts, images per GPU, backbone weights),
with the same launcher and GPU count, stopped after a few iterations (harness/config/resolve.py:
stop_early) and tested on a few images. Its data is a few images per split of the given data root
(or of the synthetic set), so that proposal dumps for dependent rows take seconds too. The worker
reports s/iter (warm-up excluded) and peak memory (harness/worker/measure.py); this module turns
them into the projected time of the full schedule and renders results/preflight.md.

No torch import here: the table must render without it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import HarnessError

COCO_VAL_IMAGES = 5000        # COCO 2017 val (the paper's minival, Sec. 5): every row tests on it
COCO_TRAIN_IMAGES = 118287    # COCO 2017 train: an RPN's proposals are dumped on it and on val


def preflight_profile(flag: bool, profile_name: str, iters: int | None):
    """The preflight profile asked for by `--preflight [--preflight-iters N]` or `--profile
    preflight`, or None when neither was given."""
    from harness.config.profiles import get_profile
    wanted = flag or profile_name == "preflight"
    if iters is not None and not wanted:
        raise HarnessError("--preflight-iters only applies with --preflight")
    if not wanted:
        return None
    if profile_name not in ("paper", "preflight"):
        raise HarnessError(f"--preflight runs the paper profile's configs; drop --profile {profile_name}")
    if iters is not None and iters < 1:
        raise HarnessError(f"--preflight-iters must be at least 1 (got {iters})")
    profile = get_profile("preflight")
    return profile if iters is None else replace(profile, stop_after_iters=iters)


def preflight_data(source: Path, store_root: Path, images: int) -> Path:
    """`images` images per split of source (symlinked, real sizes), one folder per source."""
    from harness.data.subset import make_subset
    tag = hashlib.sha256(str(Path(source).resolve()).encode()).hexdigest()[:12]
    out = Path(store_root) / "preflight_data" / tag
    make_subset(Path(source), out, images=images, force=True)
    return out.resolve()


@dataclass(frozen=True)
class Projection:
    train_s: float
    test_s: float
    dump_s: float
    gpu_hours: float | None     # None: the row ran on a CPU

    @property
    def wall_s(self) -> float:
        return self.train_s + self.test_s + self.dump_s


def project(seconds_per_iter: float | None, full_iters: int, seconds_per_image: float,
            processes: int, on_gpu: bool, dump_images: int = 0) -> Projection:
    """The full schedule's time. Training: every iteration runs on all processes at once, so
    wall = iterations x s/iter. Test: the processes split the val images, one image each per
    step. A proposal dump runs in one process (harness/orchestrate/proposals.py)."""
    if full_iters and seconds_per_iter is None:
        raise ValueError("a schedule with iterations needs a measured s/iter")
    train = full_iters * (seconds_per_iter or 0.0)
    test = COCO_VAL_IMAGES * seconds_per_image / processes
    dump = dump_images * seconds_per_image
    gpu_h = ((train + test) * processes + dump) / 3600 if on_gpu else None
    return Projection(train, test, dump, gpu_h)


def _duration(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 60:.0f} min" if s >= 60 else f"{s:.0f} s"


def _row_cells(rec: dict, producers: set[str]) -> tuple[list[str], Projection | None]:
    if rec.get("same_as"):
        return [f"passed (the run of {rec['same_as']})"] + ["-"] * 10, None
    if rec.get("status") != "done":
        return [f"{rec.get('status', 'failed').upper()}: {rec.get('reason')}"] + ["-"] * 10, None
    pf, rt = rec.get("preflight") or {}, rec.get("runtime") or {}
    if not pf or not rt.get("seconds_per_image"):
        return ["passed, but measured no time (not a preflight record?)"] + ["-"] * 10, None
    procs = int(rec.get("processes") or 1)
    device = str((rec.get("environment") or {}).get("device") or pf.get("device"))
    on_gpu = device.startswith("cuda")
    full = 0 if rec.get("merged_from") else int(pf["full_max_iters"])   # a merge only tests
    dump = COCO_TRAIN_IMAGES + COCO_VAL_IMAGES if rec["row"] in producers else 0
    proj = project(pf.get("seconds_per_iter"), full, rt["seconds_per_image"], procs, on_gpu, dump)
    per_gpu = int(rec.get("images_per_step") or 0) // procs
    s_iter = pf.get("seconds_per_iter")
    timed = f"{s_iter:.3f} ({pf['iterations_timed']} it)" if s_iter is not None else "-"
    mem = f"{pf['peak_memory_mb'] / 1024:.2f} GiB {'GPU' if on_gpu else 'RSS'}"
    tested = rt["images_timed"] + rt.get("warmup_iterations_excluded", 0)   # batch 1
    return ([f"passed ({pf['iterations']} it, {tested} test img)",
             f"{device} x{procs}", timed, f"{rt['seconds_per_image']:.3f}", mem,
             f"{full:,} it x {per_gpu} img/GPU" if full else "test only",
             _duration(proj.train_s), _duration(proj.test_s),
             _duration(proj.dump_s) if dump else "-", _duration(proj.wall_s),
             f"{proj.gpu_hours:.1f}" if proj.gpu_hours is not None else "n/a (CPU)"], proj)


def render_preflight(records: list[dict], launch, slots: int = 1) -> str:
    """results/preflight.md: one line per planned row, then the sweep's total."""
    from harness.paper.rows import get_row
    producers = {get_row(r["row"]).proposals_from for r in records} - {None}
    header = ["row", "result", "device x processes", "s/iter (warm-up excluded)", "test s/img",
              "peak memory / process", "full schedule", "train", f"test ({COCO_VAL_IMAGES} img)",
              "proposal dump", "projected wall", "GPU-h"]
    lines = ["# Preflight", "",
             f"Paper-profile configs, weights and launcher ({launch.launcher} x{launch.processes}), "
             "a few iterations and a test on a few images per row; projected: each row's full "
             "paper schedule with this launcher and GPU count (train: iterations x s/iter; test: "
             f"s/img x {COCO_VAL_IMAGES} images / processes; proposal dump: s/img x "
             f"{COCO_TRAIN_IMAGES + COCO_VAL_IMAGES} train+val images, one process).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    wall, gpu_h, passed, unprojected = 0.0, 0.0, 0, []
    for rec in records:
        cells, proj = _row_cells(rec, producers)
        label = rec["row"] + (f" (seed {rec['seed']})" if rec.get("seed") else "")
        lines.append("| " + " | ".join([label] + [c.replace("|", "/") for c in cells]) + " |")
        if rec.get("status") == "done":
            passed += 1
        if proj is not None:
            wall += proj.wall_s
            gpu_h += proj.gpu_hours or 0.0
        elif not rec.get("same_as"):
            unprojected.append(rec["row"])
    on_gpu = any(str((r.get("environment") or {}).get("device", "")).startswith("cuda") for r in records)
    lines += ["", f"{passed}/{len(records)} rows passed. Sweep total (rows one after another): "
              f"{_duration(wall)} wall" + (f", {gpu_h:.1f} GPU-hours" if on_gpu else
                                           " (on the CPU: no GPU-hours)")
              + (f"; not projected: {', '.join(unprojected)}" if unprojected else "") + "."]
    if slots > 1:
        lines.append(f"Note: {slots} rows ran at once, so each s/iter shares the machine.")
    return "\n".join(lines) + "\n"


def write_preflight(store_root: Path, text: str) -> Path:
    from harness.store import write_text_atomic
    path = Path(store_root) / "preflight.md"
    write_text_atomic(path, text)
    return path
