"""Run rows: validate inputs, resolve the config, launch the worker, write the record.

Everything that can be checked before training is checked first, so bad input costs seconds and
leaves no record behind."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.store import provenance
from harness.config.resolve import config_hash, resolve_config
from harness.data.validate import annotation_fingerprint, check_data_root
from harness.errors import HarnessError
from harness.paths import ROOT, synthetic_data_dir
from harness.config.profiles import Profile
from harness.orchestrate.four_step import merge_checkpoints, producer_checkpoint
from harness.orchestrate.proposals import TEST_DEV, ProposalState, check, dump, file_sha256
from harness.orchestrate.launch import Launch, command
from harness.orchestrate.locks import row_lock
from harness.paper.rows import Row, get_row, load_tables
from harness.store.records import RECORD_SCHEMA, Store, atomic_file


@dataclass
class RunOptions:
    profile: Profile
    data_root: Path | None = None
    force: bool = False
    seed: int = 0
    pretrained: dict[str, str] | None = None   # resnet50 / resnet101 -> ImageNet checkpoint
    cfg_options: dict = field(default_factory=dict)
    launch: Launch = field(default_factory=Launch)
    worker_threads: int | None = None   # OMP_NUM_THREADS for local workers (None: torch's default)


def default_slots(profile: Profile, launch: Launch) -> int:
    """Smoke rows on a CPU spend much of their time in single-threaded start-up, data loading and
    evaluation: one row per core (1 thread each) finished Tables 1-3 in 335 s instead of 457 s
    on 2 cores (benchmarks/smoke_sweep.py prints both). Real runs: one row at a time unless asked."""
    if profile.is_reproduction or launch.launcher != "local":
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def prepare_data_root(profile: Profile, data_root: Path | None, log=print,
                      need_masks: bool = False) -> Path:
    """The data a run uses: the user's, or the embedded synthetic set (made on first use)."""
    if data_root is None:
        if profile.needs_data_root:
            raise HarnessError(
                f"the {profile.name} profile needs COCO 2017: pass --data-root PATH (a folder with "
                "annotations/instances_{train,val}2017.json, train2017/ and val2017/)")
        from harness.data.synth import make_synthetic
        data_root = synthetic_data_dir()
        if not (data_root / "SYNTH.json").exists():
            log(f"making the synthetic data set in {data_root}")
        make_synthetic(data_root)
    data_root = Path(data_root).expanduser().resolve()
    check_data_root(data_root, known_classes=coco_classes(), need_masks=need_masks)
    return data_root


def coco_classes() -> tuple[str, ...]:
    from mmdet.datasets import CocoDataset
    return tuple(CocoDataset.METAINFO["classes"])


# MMEngine's log lines: "Iter(train) [ 5/8]  ... eta: 0:00:12 ... loss: 1.2345 ..."
_ITER = re.compile(r"Iter\((train|test)\)\s*\[\s*(\d+)/(\d+)\]")
_ETA = re.compile(r"eta: (\S+)")
_LOSS = re.compile(r"\bloss: (\S+)")


def _progress_line(line: str):
    m = _ITER.search(line)
    if not m:
        return None
    eta, loss = _ETA.search(line), _LOSS.search(line)
    return (m.group(1), int(m.group(2)), int(m.group(3)),
            (f", loss {loss.group(1)}" if loss else "") + (f", ETA {eta.group(1)}" if eta else ""))


def last_progress(log_path: Path) -> str | None:
    """The newest progress of a run from its log (for `harness status`)."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        p = _progress_line(line)
        if p:
            return f"{p[0]} {p[1]}/{p[2]}{p[3]}"
    return None


def _launch(cmd: list[str], log_path: Path, label: str, log=print, stdout_is_log: bool = True,
            threads: int | None = None) -> int:
    """Run cmd and follow the worker's log file, showing one progress line per step change (at
    most every 5 s for long runs). SLURM jobs write the log themselves (stdout_is_log=False)."""
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", PYTHONUNBUFFERED="1")
    if threads:   # several local workers share the cores; a user's OMP_NUM_THREADS wins
        env.setdefault("OMP_NUM_THREADS", str(threads))
    last_shown, last_key, pos = 0.0, None, 0
    log_path.touch()
    with open(log_path, "a", encoding="utf-8") as logf:
        proc = subprocess.Popen(cmd, stdout=logf if stdout_is_log else subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env, cwd=log_path.parent)
    with open(log_path, encoding="utf-8", errors="replace") as reader:
        while True:
            finished = proc.poll() is not None
            reader.seek(pos)
            chunk = reader.read()
            complete = chunk[:chunk.rfind("\n") + 1]
            pos += len(complete.encode("utf-8", errors="replace"))
            for line in complete.splitlines():
                p = _progress_line(line)
                if not p:
                    continue
                phase, i, n, extra = p
                t = time.monotonic()
                if (phase, i) != last_key and (t - last_shown >= 5 or i == n or (phase == "test" and i == 1)):
                    log(f"  {label} {phase} {i}/{n}{extra}")
                    last_shown, last_key = t, (phase, i)
            if finished:
                break
            time.sleep(0.5)
    if not stdout_is_log and proc.stdout is not None:
        out = proc.stdout.read().strip()
        if proc.returncode != 0 and out:
            with open(log_path, "a", encoding="utf-8") as logf:
                logf.write(f"\n[harness] {cmd[0]}: {out}\n")
    return proc.returncode


def _archive(run_dir: Path, store: Store) -> None:
    """--force keeps the previous run (record, config, logs) under results/archive/."""
    if not run_dir.exists():
        return
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    dest = store.root / "archive" / run_dir.relative_to(store.root / "runs")
    dest = dest.with_name(f"{dest.name}-{stamp}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(run_dir), str(dest))


def _annotation_files(cfg) -> dict:
    files = {}
    for split, loader in (("train", cfg.get("train_dataloader")), ("test", cfg.get("test_dataloader"))):
        if loader is None:
            continue
        ds = loader.dataset
        path = Path(ds.data_root) / ds.ann_file
        files[split] = {"path": str(path), "sha256_16": annotation_fingerprint(path)}
    return files


def _same_run(rec: dict, chash: str, annotations: dict) -> bool:
    fingerprints = {k: v["sha256_16"] for k, v in rec.get("data", {}).get("annotations", {}).items()}
    return rec.get("config", {}).get("hash") == chash and \
        fingerprints == {k: v["sha256_16"] for k, v in annotations.items()}


def _read_outcome(run_dir: Path, rc: int) -> dict:
    try:
        outcome = json.loads((run_dir / "outcome.json").read_text())
    except (OSError, ValueError):
        return {"status": "failed", "reason": f"worker exited with code {rc} without an outcome (killed?)"}
    if rc != 0 and outcome.get("status") == "done":
        return {"status": "failed", "reason": f"worker exited with code {rc}"}
    return outcome


def _paper_metrics(table, raw: dict, row: Row | None = None) -> tuple[dict, list, str | None]:
    """The table's columns in percent; CocoMetric's -1 (no objects of a size) becomes None.
    A step row (not in the paper's table) keeps every key its evaluator reported."""
    if row is not None and row.step:
        return ({k: round(100.0 * v, 4) for k, v in raw.items() if v >= 0},
                sorted(k for k, v in raw.items() if v < 0), None)
    metrics, na = {}, []
    for col, key in table.metrics.items():
        if key is None:      # scored by the COCO server only (Table 4's test-dev columns)
            continue
        if key not in raw:
            return {}, [], f"the evaluator reported no '{key}' (got {sorted(raw)})"
        if raw[key] < 0:
            metrics[col] = None
            na.append(col)
        else:
            metrics[col] = round(100.0 * raw[key], 4)
    return metrics, na, None


def _checkpoint(work_dir: Path) -> str | None:
    try:
        path = (work_dir / "last_checkpoint").read_text().strip()
    except OSError:
        return None
    return path if Path(path).exists() else None


def _slim(path: Path) -> None:
    """Weights and meta only (what dumps, init_from and merges read): a finished run is never
    resumed, so its optimizer state is dead weight. Atomic, like every write of the store."""
    import torch
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if set(ckpt) <= {"state_dict", "meta"}:
        return
    with atomic_file(path) as tmp:
        torch.save({k: ckpt[k] for k in ("state_dict", "meta") if k in ckpt}, tmp)


def _resumable(run_dir: Path, chash: str, existing: dict | None) -> bool:
    """An unfinished attempt of the same config with a checkpoint: continue it, don't restart."""
    if existing is not None and existing.get("status") == "done":
        return False
    try:
        from mmengine.config import Config
        old = config_hash(Config.fromfile(str(run_dir / "config.py")))
    except Exception:  # noqa: BLE001 - no (readable) earlier config: nothing to resume
        return False
    return old == chash and (run_dir / "work" / "last_checkpoint").exists()


def run_row(row: Row, opts: RunOptions, store: Store, data_root: Path, log=print,
            proposals: ProposalState | None = None) -> dict:
    """Run one row end to end and return its record (an existing one if already done).

    Holds the row's lock throughout, so a second sweep waits and then finds the record."""
    with row_lock(store.root, row.id, opts.profile.name, opts.seed, log):
        return _run_row_locked(row, opts, store, data_root, log, proposals)


def _run_row_locked(row, opts, store, data_root, log, proposals) -> dict:
    profile, launch = opts.profile, opts.launch
    run_dir = store.run_dir(row.id, profile.name, opts.seed)
    resolved = resolve_config(row, profile, data_root, run_dir / "work", seed=opts.seed,
                              pretrained=opts.pretrained, processes=launch.processes)
    cfg = resolved.cfg
    if proposals is not None:
        cfg.train_dataloader.dataset.proposal_file = proposals.files["train2017"]
        cfg.test_dataloader.dataset.proposal_file = proposals.files["val2017"]
        if cfg.get("test_dev") is not None and TEST_DEV in proposals.files:
            cfg.test_dev.proposal_file = proposals.files[TEST_DEV]
        # In the config (and so in its hash): a detector on other proposals is another run.
        cfg.proposals_checkpoint_sha256 = proposals.checkpoint_sha256
    # Checkpoints from other rows (4-step training): by sha256 in the config, so in its hash.
    sources = {}
    if row.init_from:
        cfg.load_from, sha = producer_checkpoint(store, row.init_from, profile.name, opts.seed)
        cfg.init_from = dict(row=row.init_from, checkpoint_sha256=sha)
    if row.merge:
        merged_from = {}
        for part, source in row.merge.items():
            sources[part], sha = producer_checkpoint(store, source, profile.name, opts.seed)
            merged_from[part] = dict(row=source, checkpoint_sha256=sha)
        cfg.merged_from = merged_from
        cfg.harness_test_only = True     # the worker tests the merged model, never trains it
        cfg.load_from = str(run_dir / "merged.pth")
    if opts.cfg_options:
        cfg.merge_from_dict(opts.cfg_options)
    chash = config_hash(cfg)
    annotations = _annotation_files(cfg)
    existing = store.get(row.id, profile.name, opts.seed)
    if existing and existing.get("status") == "done" and not opts.force:
        where = store.record_path(row.id, profile.name, opts.seed)
        if _same_run(existing, chash, annotations):
            log(f"{row.id} [{profile.name}]: already done ({where}); use --force to run it again")
        else:
            log(f"{row.id} [{profile.name}]: kept a record made with another config, data or "
                f"proposals ({where}); use --force to replace it")
        return existing
    resume = not opts.force and _resumable(run_dir, chash, existing)
    if not resume:
        _archive(run_dir, store)
        run_dir.mkdir(parents=True)
        if sources:
            log(f"{row.id} [{profile.name}]: merging {', '.join(f'{p} of {r}' for p, r in row.merge.items())}")
            merge_checkpoints(sources, Path(cfg.load_from))
        cfg.dump(str(run_dir / "config.py"))
    table = load_tables()[row.table]

    label = f"{row.id} [{profile.name}]"
    what = ("testing the merged model" if row.merge else
            "resuming from its last checkpoint" if resume else "training and testing")
    log(f"{label}: {what} ({row.name}, {launch.launcher} x{launch.processes}); "
        f"log: {run_dir / 'worker.log'}")
    (run_dir / "outcome.json").unlink(missing_ok=True)
    started, t0 = now(), time.time()
    cmd, stdout_is_log = command(run_dir, launch, run_dir / "worker.log",
                                 job_name=f"fpn-{row.id}-{profile.name}")
    rc = _launch(cmd, run_dir / "worker.log", label, log, stdout_is_log, opts.worker_threads)
    wall = time.time() - t0

    outcome = _read_outcome(run_dir, rc)
    raw = outcome.get("metrics", {})
    metrics, na = {}, []
    if outcome["status"] == "done":
        metrics, na, problem = _paper_metrics(table, raw, row)
        if problem:
            outcome = {"status": "failed", "reason": problem}
    ckpt = None
    if outcome["status"] == "done":
        ckpt = cfg.load_from if row.merge else _checkpoint(run_dir / "work")
        if ckpt and profile.slim_checkpoints:
            _slim(Path(ckpt))
    env_info = outcome.get("environment", {})
    world = env_info.get("world_size", launch.processes)
    per_step = int(cfg.train_dataloader.batch_size) * int(world)
    record = {
        "schema": RECORD_SCHEMA,
        "row": row.id,
        "table": row.table,
        "row_name": row.name,
        "profile": profile.name,
        "is_reproduction": profile.is_reproduction,
        "seed": opts.seed,
        "status": outcome["status"],
        "reason": outcome.get("reason"),
        "metrics": metrics,
        "metrics_na": na,
        "raw_metrics": raw,
        "metric_source": "MMDetection CocoMetric (pycocotools COCOeval)",
        "config": {
            "row_config": str(row.config_path.relative_to(ROOT))
            if row.config_path.is_relative_to(ROOT) else str(row.config_path),
            "resolved": str(run_dir / "config.py"),
            "hash": chash,
        },
        "schedule": resolved.schedule.as_dict() if resolved.schedule else None,
        "deviations": resolved.deviations,
        "cfg_options": {k: repr(v) for k, v in opts.cfg_options.items()},
        "proposals": None if proposals is None else {
            "producer": row.proposals_from, "checkpoint_sha256": proposals.checkpoint_sha256,
            "files": proposals.files},
        "init_from": cfg.get("init_from"),
        "merged_from": cfg.get("merged_from"),
        # Table 4: the COCO test-dev result file to submit (None: no test-dev in the data root)
        "test_dev": outcome.get("test_dev"),
        "iterations": outcome.get("iterations"),
        # inference time per image on this run's device (a number for the record on a CPU)
        "runtime": dict(outcome["runtime"], device=env_info.get("device"))
        if outcome.get("runtime") else None,
        "resumed": bool(outcome.get("resumed_from_iteration")),
        "resumed_from_iteration": outcome.get("resumed_from_iteration"),
        "lr_used": outcome.get("lr_used"),
        "images_per_batch": per_step * int(cfg.optim_wrapper.get("accumulative_counts", 1)),
        "images_per_step": per_step,
        "checkpoint": ckpt,
        "checkpoint_sha256": file_sha256(Path(ckpt)) if ckpt else None,
        "data": {"root": str(data_root), "annotations": annotations},
        "code": provenance.git_state(),
        "packages": provenance.package_versions(),
        "host": provenance.host(),
        "environment": env_info,
        "launcher": launch.launcher,
        "processes": launch.processes,
        "work_dir": str(run_dir / "work"),
        "started_at": started,
        "finished_at": now(),
        "wall_time_s": round(wall, 2),
        "gpu_hours": round(wall * env_info.get("num_gpus", 0) / 3600, 4),
    }
    store.write(record)
    return record


# --- dependencies -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    row: Row
    requested: bool     # asked for by the user (vs. pulled in as a dependency)


def plan(rows: list[Row]) -> list[Step]:
    """Rows in an order where every producer (RPN for proposals, same_as source) comes first."""
    out: list[Step] = []
    seen: dict[str, int] = {}

    def visit(row: Row, requested: bool, chain: tuple[str, ...]) -> None:
        if row.id in chain:
            raise HarnessError(f"published.yaml has a dependency cycle: {' -> '.join(chain + (row.id,))}")
        for dep in row.deps:
            visit(get_row(dep), False, chain + (row.id,))
        if row.id in seen:
            if requested:
                out[seen[row.id]] = Step(row, True)
            return
        seen[row.id] = len(out)
        out.append(Step(row, requested))

    for r in rows:
        visit(r, True, ())
    return out


def _blocked(row: Row, profile: str, reason: str) -> dict:
    """Not a record (nothing is written): what a row that could not start reports."""
    return {"row": row.id, "table": row.table, "profile": profile, "status": "blocked",
            "reason": reason, "metrics": {}}


def _alias(row: Row, source: dict, store: Store) -> dict:
    """A row whose run is another row's (the paper's 3(c) is 2(c)): same numbers, its own record."""
    rec = {k: v for k, v in source.items() if not k.startswith("_")}
    rec.update(row=row.id, table=row.table, row_name=row.name, same_as=source["row"],
               same_as_record=str(store.record_path(source["row"], source["profile"],
                                                    source.get("seed", 0))))
    table = load_tables()[row.table]
    if source["status"] == "done":
        rec["metrics"], rec["metrics_na"], problem = _paper_metrics(table, source["raw_metrics"], row)
        if problem:
            rec.update(status="failed", reason=problem, metrics={})
    store.write(rec)
    return rec


def _step(step: Step, opts: RunOptions, store: Store, data_root: Path, results: dict, log) -> dict:
    row, profile = step.row, opts.profile.name
    for dep in row.deps:
        if results.get(dep, {}).get("status") != "done":
            prior = results.get(dep) or store.get(dep, profile, opts.seed) or {}
            return _blocked(row, profile, f"needs {dep}, which failed: {prior.get('reason') or 'it did not finish'}")
    if row.same_as:
        return _alias(row, results[row.same_as], store)
    proposals = None
    if row.proposals_from:
        # One dump per producer even when several consumers start at once.
        with row_lock(store.root, row.proposals_from, profile, opts.seed, log=lambda *_: None):
            proposals = check(store, row.proposals_from, profile, opts.seed, data_root)
            if proposals.status != "fresh":
                log(f"  proposals of {row.proposals_from}: {proposals.status} ({proposals.reason})")
                try:
                    proposals = dump(store, row.proposals_from, profile, opts.seed, data_root,
                                     lambda cmd, path, label: _launch(cmd, path, label, log,
                                                                      threads=opts.worker_threads),
                                     log)
                except HarnessError as exc:
                    return _blocked(row, profile, str(exc))
    try:
        return run_row(row, opts, store, data_root, log, proposals)
    except HarnessError as exc:
        if not (row.init_from or row.merge):
            raise
        return _blocked(row, profile, str(exc))   # a producer's checkpoint is missing or unusable


def execute(rows: list[Row], opts: RunOptions, store: Store, data_root: Path, log=print,
            slots: int = 1) -> list[dict]:
    """Run rows with their dependencies, up to `slots` at once: a row starts as soon as its
    producers have finished. One result per step (a record, or a blocked notice)."""
    steps = plan(rows)
    if min(slots, len(steps)) > 1 and opts.launch.launcher == "local" and opts.worker_threads is None:
        opts = replace(opts, worker_threads=max(1, (os.cpu_count() or 1) // slots))
        log(f"running up to {slots} rows at once, {opts.worker_threads} thread(s) each "
            "(--slots to change)")
    deps = {s.row.id: s.row.deps for s in steps}
    results: dict[str, dict] = {}
    pending, running = list(steps), {}
    t0 = time.monotonic()
    profile = opts.profile.name
    with ThreadPoolExecutor(max_workers=max(1, slots)) as pool:
        while pending or running:
            for step in list(pending):
                if len(running) >= max(1, slots):
                    break
                if all(d in results for d in deps[step.row.id]):
                    pending.remove(step)
                    why = "" if step.requested else " (dependency)"
                    log(f"[{len(results) + len(running) + 1}/{len(steps)}] {step.row.id} "
                        f"({step.row.name}){why}, profile {profile}, seed {opts.seed}")
                    running[pool.submit(_step, step, opts, store, data_root, results, log)] = step
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                step = running.pop(fut)
                results[step.row.id] = fut.result()
                n, elapsed = len(results), time.monotonic() - t0
                eta = f", ETA {elapsed / n * (len(steps) - n):.0f} s" if n < len(steps) else ""
                log(f"  {n}/{len(steps)} rows finished ({step.row.id}: {results[step.row.id]['status']})"
                    f", {elapsed:.0f} s elapsed{eta}")
    return [results[s.row.id] for s in steps]
