"""harness/config/row_facts.py: the read-only verbs' per-row facts are computed once per state of
paper_configs/ and recomputed when any row config changes (never served stale)."""
from __future__ import annotations

import os
import shutil

import pytest

from harness.config import row_facts as rf
from harness.paper.rows import load_tables
from harness.paths import PAPER_CONFIGS

ROW = load_tables()["table1"].rows["c"]


@pytest.fixture
def computed(tmp_path, monkeypatch):
    configs = tmp_path / "paper_configs"
    shutil.copytree(PAPER_CONFIGS, configs)
    monkeypatch.setattr(rf, "PAPER_CONFIGS", configs)
    monkeypatch.setenv("FPN_REPRO_RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(rf, "_MEMO", {})
    calls = []
    monkeypatch.setattr(rf, "_compute", lambda row: calls.append(row.id) or {"anchors": str(len(calls))})
    return configs, calls


def test_facts_are_computed_once_then_read_from_memory_or_the_cache_file(computed, monkeypatch, tmp_path):
    _, calls = computed
    assert rf.row_facts(ROW) == rf.row_facts(ROW) == {"anchors": "1"}
    monkeypatch.setattr(rf, "_MEMO", {})                     # a new process: the cache file
    assert rf.row_facts(ROW) == {"anchors": "1"} and calls == ["table1.c"]
    assert (tmp_path / "results" / "cache" / "row_facts.json").is_file()


def test_editing_a_row_config_recomputes_even_with_the_same_size_and_mtime(computed):
    configs, calls = computed
    rf.row_facts(ROW)
    path = next(configs.rglob("*.py"))
    st = path.stat()
    text = path.read_text()
    path.write_text(text[:-1] + ("x" if text[-1] != "x" else "y"))   # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))              # and the same mtime
    rf._HASHED.clear()   # what a new process sees: the content decides
    assert rf.row_facts(ROW) == {"anchors": "2"}
    path.write_text(text + "\n# edited\n")                           # a plain edit, same process
    assert rf.row_facts(ROW) == {"anchors": "3"} and calls == ["table1.c"] * 3
