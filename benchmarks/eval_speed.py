"""Evaluation speed and memory at COCO minival scale: faster-coco-eval against pycocotools.

    python benchmarks/eval_speed.py                 # 5000 images (COCO minival scale)
    python benchmarks/eval_speed.py --images 500    # a quick run

Synthetic ground truth and predictions (harness/evaluation/synthetic.py: COCO val's image sizes,
object counts, size mix and crowd regions) at the counts the harness evaluates: 1000 proposals
per image (proposal AR, Table 1), 100 detections per image (box AP, Tables 2-5), 1000 RLE masks
per image (segment AR, Table 6). Each metric runs with each backend in a fresh subprocess, so its
peak RSS is its own: the harness's metric class is built, fed every image through process() (2
images per call, as a test loop does, with the tensors and RLE dicts a model returns) and asked
for its metrics once, as rank 0 does. Times: process() calls, compute (rank 0's evaluate), total.
The data are made once per (images, seed) and cached in --workdir. The last line reads
    speed-up: proposals N.Nx, bbox N.Nx, segm N.Nx; identical: yes|no
with ratios of the CPU seconds of `compute`: what rank 0 does after the test loop while the GPUs
wait (process() runs per batch on every rank during the loop and is the same code for both
backends). CPU seconds, because other jobs on shared cores inflate wall-clock time by whatever
they take (the table has both; faster-coco-eval's threads make its CPU time >= its wall time).
identical: every reported key equal with both backends.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TASKS = {"proposals": dict(per_image=1000), "bbox": dict(per_image=100),
         "segm": dict(per_image=1000)}
BACKENDS = ("pycocotools", "faster_coco_eval")
DATA_VERSION = 1      # bump when harness/evaluation/synthetic.py changes what it draws


def make_data(workdir: Path, images: int, seed: int) -> Path:
    """gt.json and one pickle stream per task (one record per image); reused when present."""
    from harness.evaluation import synthetic as S
    d = workdir / f"data_v{DATA_VERSION}_{images}_{seed}"
    if (d / "done").exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    gt = S.ground_truth(images, seed)
    (d / "gt.json").write_text(json.dumps(gt))
    for task, aware in (("proposals", False), ("bbox", True)):
        with open(d / f"{task}.pkl", "wb") as f:
            for rec in S.boxes(gt, TASKS[task]["per_image"], seed + 1, class_aware=aware):
                pickle.dump(rec, f, protocol=pickle.HIGHEST_PROTOCOL)
    with open(d / "segm.pkl", "wb") as f:
        for rec in S.masks(gt, TASKS["segm"]["per_image"], seed + 2):
            pickle.dump(rec, f, protocol=pickle.HIGHEST_PROTOCOL)
    (d / "done").write_text("")
    print(f"made synthetic data: {images} images, {len(gt['annotations'])} objects, "
          f"{time.time() - t0:.0f} s -> {d}", flush=True)
    return d


def _stream(path: Path):
    with open(path, "rb") as f:
        while True:
            try:
                yield pickle.load(f)
            except EOFError:
                return


def _cpu_s() -> float:
    """CPU seconds of this process (all threads): robust to other jobs sharing the cores."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2   # ru_maxrss: KiB


def child(task: str, backend: str, data: Path) -> dict:
    """One metric with one backend, as a test loop drives it. Returns timings and metrics."""
    import torch
    from harness.evaluation.metrics import HarnessCocoMetric
    from harness.evaluation.segm import SegmentARMetric
    gt = json.loads((data / "gt.json").read_text())
    classes = tuple(c["name"] for c in gt["categories"])
    n_images = len(gt["images"])
    del gt
    ann = str(data / "gt.json")
    if task == "segm":
        metric = SegmentARMetric(ann_file=ann, proposal_nums=(10, 100, 1000), backend=backend)
    else:
        metric = HarnessCocoMetric(ann_file=ann, metric="proposal" if task == "proposals" else "bbox",
                                   backend=backend)
    metric.dataset_meta = dict(classes=classes)
    rss_start = _rss_gb()

    def sample(rec):
        if task == "segm":
            return {"img_id": rec.img_id, "pred_instances": {
                "scores": torch.from_numpy(rec.scores),
                "masks": [{"size": [rec.height, rec.width], "counts": c.decode()} for c in rec.counts]}}
        return {"img_id": rec.img_id, "pred_instances": {
            "bboxes": torch.from_numpy(rec.bboxes), "scores": torch.from_numpy(rec.scores),
            "labels": torch.from_numpy(rec.labels)}}

    timed = {"process": [0.0, 0.0], "compute": [0.0, 0.0]}    # wall, CPU seconds

    def feed(batch):
        t, c = time.perf_counter(), _cpu_s()
        metric.process({}, batch)
        timed["process"][0] += time.perf_counter() - t
        timed["process"][1] += _cpu_s() - c

    batch = []
    for rec in _stream(data / f"{task}.pkl"):
        batch.append(sample(rec))
        if len(batch) == 2:
            feed(batch)
            batch = []
    if batch:
        feed(batch)
    from harness.evaluation.compact import nbytes
    held = nbytes(metric.results)
    t, c = time.perf_counter(), _cpu_s()
    metrics = metric.evaluate(n_images)
    timed["compute"] = [time.perf_counter() - t, _cpu_s() - c]
    (tp, cp), (tc, cc) = timed["process"], timed["compute"]
    return {"task": task, "backend": backend, "process_s": tp, "compute_s": tc, "total_s": tp + tc,
            "process_cpu_s": cp, "compute_cpu_s": cc, "rss_start_gb": rss_start, "peak_rss_gb": _rss_gb(),
            "results_mb": held / 1e6, "metrics": metrics}


def run_child(task: str, backend: str, data: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", task, "--backend", backend, "--data", str(data)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"eval_speed: {task} with {backend} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=5000, help="images (default 5000: COCO minival)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "fpn-repro-eval-speed",
                    help="where the synthetic data are cached")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--child", choices=list(TASKS), help=argparse.SUPPRESS)
    ap.add_argument("--backend", choices=BACKENDS, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.backend, args.data)))
        return 0
    if args.images < 1:
        ap.error("--images must be >= 1")
    data = make_data(args.workdir, args.images, args.seed)
    print(f"{'':28} {'wall-clock seconds':^28} {'CPU seconds':^19}")
    print(f"{'metric':<10} {'backend':<17} {'process':>8} {'compute':>9} {'total':>9} "
          f"{'process':>9} {'compute':>9} {'peak RSS GB':>12} {'results MB':>11}", flush=True)
    speedups, identical = {}, True
    for task in args.tasks:
        res = {}
        for backend in BACKENDS:
            r = res[backend] = run_child(task, backend, data)
            print(f"{task:<10} {backend:<17} {r['process_s']:8.2f} {r['compute_s']:9.2f} "
                  f"{r['total_s']:9.2f} {r['process_cpu_s']:9.2f} {r['compute_cpu_s']:9.2f} "
                  f"{r['peak_rss_gb']:12.2f} {r['results_mb']:11.1f}", flush=True)
        a, b = res["pycocotools"], res["faster_coco_eval"]
        speedups[task] = a["compute_cpu_s"] / b["compute_cpu_s"]
        same = a["metrics"] == b["metrics"]
        identical &= same
        print(f"{task:<10} ratio: compute {speedups[task]:.1f}x CPU, {a['compute_s'] / b['compute_s']:.1f}x "
              f"wall; process + compute {a['total_s'] / b['total_s']:.1f}x wall, "
              f"{(a['process_cpu_s'] + a['compute_cpu_s']) / (b['process_cpu_s'] + b['compute_cpu_s']):.1f}x CPU; metrics {'identical' if same else 'DIFFER'}: {b['metrics']}"
              + ("" if same else f" vs pycocotools {a['metrics']}"), flush=True)
    print("speed-up: " + ", ".join(f"{t} {speedups[t]:.1f}x" for t in args.tasks)
          + f"; identical: {'yes' if identical else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
