"""Table 4's COCO test-dev pass, run by the worker after the minival test."""
from __future__ import annotations

from pathlib import Path

from harness.data.coco import TEST_DEV_ANN, TEST_DEV_IMAGES, has_test_dev
from harness.store import RunDir


def run_test_dev(runner, cfg, run: RunDir) -> dict | None:
    """Table 4: after the minival test, the same model on COCO test-dev with
    CocoMetric(format_only=True): a result file for the COCO server, no local metric. Only when
    the row asks for it (cfg.test_dev) and the data root has test-dev."""
    td = cfg.get("test_dev")
    if td is None or not has_test_dev(Path(cfg.data_root)):
        return None
    loader = cfg.test_dataloader.copy()
    ds = loader.dataset
    ds.ann_file, ds.data_prefix = TEST_DEV_ANN, dict(img=TEST_DEV_IMAGES)
    if ds.get("proposal_file"):
        if not td.get("proposal_file"):
            raise RuntimeError("the data root has test-dev but the RPN's test-dev proposals were "
                               "not dumped; run the row again with --force")
        ds.proposal_file = td.proposal_file
    prefix = run.test_dev / "detections_test-dev2017_fpn-repro_results"
    prefix.parent.mkdir(exist_ok=True)
    # Swap the test loop's data and evaluator, then let MMEngine rebuild the loop.
    runner._test_dataloader = loader
    runner._test_evaluator = dict(type="CocoMetric", metric="bbox", format_only=True,
                                  ann_file=str(Path(cfg.data_root) / TEST_DEV_ANN),
                                  outfile_prefix=str(prefix))
    runner._test_loop = dict(type="TestLoop")
    runner.test()
    result = Path(f"{prefix}.bbox.json")
    if not result.is_file():
        raise RuntimeError(f"CocoMetric(format_only=True) wrote no {result}")
    return {"result_file": str(result), "images": len(runner.test_dataloader.dataset),
            "note": "COCO test-dev detections for the evaluation server; not scored locally"}


