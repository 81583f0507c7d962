"""Which checkpoints a model's weight initialisation actually loaded, by file and sha256.

A row names its ImageNet weights in the config (`init_cfg=dict(type='Pretrained', ...)`, or a
--pretrained file); whether a run may be judged against the paper depends on the file MMEngine
really read (harness/orchestrate/reproduction.py). MMEngine resolves a name (open-mmlab://...,
a URL, a path) through CheckpointLoader to a local file that it reads with torch.load: both are
watched while the model initialises, so the record holds what was read, not what was asked."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from harness.orchestrate.proposals import file_sha256


@contextmanager
def watch_loads(out: list[dict]):
    """Append {source, path} for every file CheckpointLoader reads while the block runs."""
    import torch
    from mmengine.runner.checkpoint import CheckpointLoader
    torch_load, loader = torch.load, CheckpointLoader.__dict__["load_checkpoint"]
    sources: list[str] = []

    def load_checkpoint(cls, filename, *args, **kwargs):
        sources.append(str(filename))
        try:
            return loader.__func__(cls, filename, *args, **kwargs)
        finally:
            sources.pop()

    def load(f, *args, **kwargs):
        if sources and isinstance(f, (str, os.PathLike)):
            out.append({"source": sources[0], "path": os.path.abspath(os.fspath(f))})
        return torch_load(f, *args, **kwargs)

    CheckpointLoader.load_checkpoint = classmethod(load_checkpoint)
    torch.load = load
    try:
        yield out
    finally:
        CheckpointLoader.load_checkpoint = loader
        torch.load = torch_load


def record_init_loads(runner) -> list[dict]:
    """Watch the runner's weight initialisation (MMEngine's Runner.train calls
    _init_model_weights before it resumes or loads load_from); the list fills as it runs."""
    loaded: list[dict] = []
    init = runner._init_model_weights

    def init_watched():
        with watch_loads(loaded):
            init()

    runner._init_model_weights = init_watched
    return loaded


def hashed(loaded: list[dict]) -> list[dict]:
    """Each file once, with its sha256 (the C4 rows' head reads the backbone's file again)."""
    seen = {}
    for entry in loaded:
        key = (entry["source"], entry["path"])
        if key not in seen and Path(entry["path"]).is_file():
            seen[key] = dict(entry, sha256=file_sha256(Path(entry["path"])))
    return list(seen.values())
