"""`harness status` on a store planted by hand: states come from records, locks and checkpoints,
and a row whose producer failed (any kind of dependency) is blocked with the reason."""
from __future__ import annotations

from harness.orchestrate.status import render_status, row_state
from harness.paper.rows import get_row, resolve
from harness.store import Record, Status, Store


def plant(store: Store, row_id: str, status: str, reason: str | None = None) -> None:
    store.write(Record(row=row_id, table=row_id.split(".")[0], profile="smoke", status=status,
                       reason=reason, finished_at="2026-11-26T07:00:00+00:00"))


def states(store: Store, targets: list[str]) -> dict:
    from harness.orchestrate.plan import plan
    out: dict = {}
    for step in plan(resolve(targets)):
        out[step.row.id] = row_state(store, step.row, "smoke", 0, out)
    return out


def test_a_failed_init_or_merge_producer_blocks_the_table5_steps(tmp_path):
    store = Store(tmp_path)
    for done in ("table1.c", "table2.c"):
        plant(store, done, "done")
    plant(store, "table5.r50_step3", "failed", "NonFiniteLossError: loss became nan")
    s = states(store, ["table5.r50_yes"])
    assert s["table5.r50_step3"][0] == Status.FAILED
    # step 4 needs step 3's proposals; the merged row needs step 3 as its rpn part
    assert s["table5.r50_step4"] == (Status.BLOCKED, "by table5.r50_step3 (failed, proposals)")
    assert s["table5.r50_yes"][0] == Status.BLOCKED
    assert s["table5.r50_yes"][1].startswith("by table5.r50_step3 (failed, merged rpn)")


def test_init_edge_alone_blocks_too(tmp_path):
    store = Store(tmp_path)
    plant(store, "table1.c", "done")
    plant(store, "table2.c", "failed", "boom")
    s = states(store, ["table5.r50_step3"])
    assert get_row("table5.r50_step3").init_from == "table2.c"
    assert s["table5.r50_step3"] == (Status.BLOCKED, "by table2.c (failed, init)")


def test_stopped_run_with_a_checkpoint_says_a_rerun_resumes(tmp_path):
    store = Store(tmp_path)
    run = store.run("table1.c", "smoke", 0)
    run.work.mkdir(parents=True)
    (run.work / "iter_4.pth").write_bytes(b"x")
    (run.work / "last_checkpoint").write_text(str(run.work / "iter_4.pth"))
    state, detail = states(store, ["table1.c"])["table1.c"]
    assert state == Status.STOPPED and "iter_4.pth" in detail and "resumes" in detail


def test_render_counts_every_state(tmp_path):
    store = Store(tmp_path)
    plant(store, "table1.c", "failed", "boom")
    text = render_status(store, resolve(["table2.c"]), "smoke")
    assert "table2.c  blocked  by table1.c (failed, proposals)" in text
    assert text.splitlines()[-1].strip() == "1 blocked, 1 failed"
