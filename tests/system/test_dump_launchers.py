"""A proposal dump runs on the row's launcher: with torchrun and 2 gloo processes (CPU) each rank
dumps half the images and rank 0 writes one file per split, byte for byte the file a 1-process
dump writes (same boxes, scores and order per image); the manifest says how it was dumped."""
from __future__ import annotations

import json

from harness.orchestrate.launch import Launch
from harness.orchestrate.progress import launch_and_follow
from harness.orchestrate.proposals import dump
from harness.store import Store

from tests.conftest import run_cli


def test_two_process_dump_equals_the_one_process_dump(tmp_path, synth_root, monkeypatch):
    proc = run_cli("run", "table1.c", "--profile", "smoke", "--data-root", str(synth_root),
                   env={"FPN_REPRO_RESULTS": str(tmp_path / "results")})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    store = Store(tmp_path / "results")
    run = store.run("table1.c", "smoke", 0)
    # One thread per process for both dumps (torchrun's default): a CPU convolution's last bit
    # depends on how many threads split it; what this test is about is how images are split.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    files = {}
    for launch in (Launch("local", 1), Launch("torchrun", 2)):
        state = dump(store, "table1.c", "smoke", 0, synth_root, launch,
                     lambda cmd, path, label: launch_and_follow(cmd, path, label, log=lambda *_: None),
                     log=lambda *_: None)
        assert state.status == "fresh"
        files[launch.launcher] = {s: (run.proposals / f"{s}.pkl").read_bytes() for s in state.files}
        manifest = json.loads((run.proposals / "manifest.json").read_text())
        assert (manifest["launcher"], manifest["processes"]) == (launch.launcher, launch.processes)
    assert set(files["local"]) == {"train2017", "val2017"}
    assert files["torchrun"]["val2017"] == files["local"]["val2017"]
    assert files["torchrun"]["train2017"] == files["local"]["train2017"]
    log = run.dump_log.read_text()
    assert "Iter(test) [4/4]" in log             # the torchrun dump: 8 val images over 2 ranks
    import pickle
    val = pickle.loads(files["torchrun"]["val2017"])
    assert len(val) == 8 and all(0 < len(p["bboxes"]) == len(p["scores"]) for p in val.values())
