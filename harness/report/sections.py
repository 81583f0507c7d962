"""The report's claims section and its runs (provenance) section, as document blocks."""
from __future__ import annotations

from harness.report.aggregate import get, lines as str_list
from harness.report.claims import FAILS, HOLDS, ClaimResult
from harness.report.doc import Heading, Para, TableBlock, to_markdown
from harness.report.fidelity_notes import claim_text, claims_intro, paper_delta_text


# ---- claims ---------------------------------------------------------------------------------

def _short(row_id: str) -> str:
    """table1.c -> 1(c), as the paper writes it."""
    tid, _, letter = row_id.partition(".")
    return f"{tid.removeprefix('table')}({letter})"


def claim_blocks(results: list[ClaimResult], tol: float) -> list:
    header = ["claim (the paper's words)", "Sec.", "A vs B", "metric", "paper delta",
              "measured delta", "holds if", "runs A / B", "verdict", "note"]
    rows, shades = [], []
    for r in results:
        c = r.claim
        meas = (f"{r.measured_delta:+.1f}" if r.measured_delta is not None else
                f"({r.info_delta:+.1f} smoke)" if r.info_delta is not None else "-")
        rows.append([claim_text(c), c.section, f"{_short(c.a)} vs {_short(c.b)}", c.metric,
                     paper_delta_text(c),
                     meas, r.rule, r.runs, r.verdict, r.note])
        shades.append([None] * 8 + [{HOLDS: "holds", FAILS: "fails"}.get(r.verdict, "not_enough"),
                                    None])
    intro = claims_intro(tol)
    return [Heading("Claims", 2), Para(intro, small=True),
            TableBlock(header, rows, shades, widths=[4, .5, 1.2, 1, 1, 1, 1, 1, 1, 3])]


# ---- provenance -----------------------------------------------------------------------------

def _prov_row(r: dict) -> list[str]:
    code = r.get("code") if isinstance(r.get("code"), dict) else {}
    commit = str(code.get("commit") or "unknown")[:10] + ("+dirty" if code.get("dirty") else "")
    pk = r.get("packages") if isinstance(r.get("packages"), dict) else {}
    packages = ", ".join(f"{k} {pk[k]}" for k in ("mmdet", "mmcv", "mmengine", "torch") if pk.get(k))
    env = r.get("environment") if isinstance(r.get("environment"), dict) else {}
    device = (f"{env.get('device', '?')}, {env.get('num_gpus', '?')} GPUs, world "
              f"{env.get('world_size', '?')}, {r.get('launcher', '?')}")
    ann = get(r, "data", "annotations", default={})
    fp = " / ".join(f"{k} {get(ann, k, 'sha256_16', default='?')}" for k in ("train", "test")) \
        if isinstance(ann, dict) and ann else "?"
    wall = r.get("wall_time_s")
    gpu_h = r.get("gpu_hours")
    extra = str_list(r.get("deviations"))
    if r.get("resumed"):
        extra.append(f"resumed from iteration {r.get('resumed_from_iteration', '?')}")
    if r.get("same_as"):
        extra.append(f"= {r['same_as']}'s run")
    if r.get("status") != "done":
        extra.append(f"reason: {r.get('reason')}")
    return [f"{r['row']} {r['profile']} seed {r.get('seed', 0)}", str(r.get("status")), commit,
            packages or "?", device, str(get(r, "data", "root", default="?")), fp,
            str(get(r, "config", "hash", default="?")),
            f"{r.get('iterations', '?')} x {r.get('images_per_batch', '?')}",
            "?" if not isinstance(wall, (int, float)) else f"{wall:.0f}",
            "?" if not isinstance(gpu_h, (int, float)) else f"{gpu_h:.2f}",
            "; ".join(extra) or "-"]


def runs_blocks(records: list[dict]) -> list:
    header = ["run (row profile seed)", "status", "commit", "packages", "device, GPUs, world size, "
              "launcher", "data root", "annotations sha256[:16] (train / test)", "config hash",
              "iterations x images/batch", "wall (s)", "GPU-hours", "deviations, notes"]
    recs = sorted(records, key=lambda r: (r["row"], r["profile"], str(r.get("seed", 0))))
    return [Heading("Provenance: every run", 2),
            Para("One line per record in the store. The annotation fingerprint is the first 16 hex "
                 "digits of each file's sha256; `+dirty`: the code had uncommitted changes.",
                 small=True),
            TableBlock(header, [_prov_row(r) for r in recs],
                       widths=[1.4, .6, 1, 2, 1.6, 1.6, 1.6, 1, 1, .6, .6, 2.5])]


def render_runs(records: list[dict]) -> str:
    return to_markdown(runs_blocks(records))


