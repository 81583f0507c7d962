"""fpn-repro: reproduce the tables of Lin et al., "Feature Pyramid Networks for Object Detection"
(CVPR 2017) on MMDetection 3.x and compare them with the published numbers.

The package is laid out as the pipeline a row goes through:

    paper/        what the paper says: tables, rows, published numbers, claims, constants
    config/       row config + profile + data root -> one resolved MMDetection config; its audit
    data/         the data a run reads: synthetic COCO, COCO subsets, checks of a data root
    orchestrate/  the orchestrator process: plan the DAG, run rows, launch workers, proposals
    worker/       the child process a launcher starts: MMEngine's Runner, train, test, dumps
    models/       MMDetection plugins the worker imports (custom_imports): necks, RoI pooling,
                  hooks, the segment-proposal head and metric
    evaluation/   every metric the harness reports (box AP, proposal AR, segment AR) on
                  faster-coco-eval or pycocotools; metrics.py is loaded like models/
    store/        what a run leaves: records, run directories, atomic writes, provenance
    report/       records -> verdicts, tables, claims, plots, PDF, tidy CSV
    cli/          the `harness` command

Only worker/, models/ and evaluation/'s metric classes (and the config resolver, which reads
mmengine configs) import torch or mmdet; the read-only verbs (list, status, audit --help,
sweep --dry-run, report) never do."""

__version__ = "0.1.0"
