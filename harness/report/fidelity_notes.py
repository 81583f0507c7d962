"""The report's words on paper fidelity: each table's declared deviations as footnotes, and how
the claims are encoded (harness/paper/claims.py). No torch or mmdet: the report may run where
only its records are.

A row's declared deviations are its config's `paper_deviations` (paper_configs/README.md: the
rule). They are read from the records, which keep each run's own resolved declarations (they
say, e.g., which training split Table 6 used with that data root), else from the row config
(cached per config tree by harness/config/row_facts.py)."""
from __future__ import annotations


from harness.config.row_facts import row_facts
from harness.paper.claims import TIME, Claim
from harness.paper.rows import Row, Table

KEY = "paper_deviations"


def row_deviations(row: Row, records: list[dict] = ()) -> dict[str, str]:
    """setting -> reason for a row: from its runs' records (each run's own resolved config, as
    the record keeps it, with the profiles a reason is limited to) or, without runs that say,
    from the row config."""
    per_run = [(str(rec.get("profile")), rec[KEY]) for rec in records
               if isinstance(rec.get(KEY), dict)]
    if not per_run:
        return dict(row_facts(row)["paper_deviations"]) if row.runnable else {}
    out: dict[str, str] = {}
    for setting in dict.fromkeys(k for _, d in per_run for k in d):
        for reason in dict.fromkeys(d[setting] for _, d in per_run if setting in d):
            profiles = ", ".join(sorted({p for p, d in per_run if d.get(setting) == reason}))
            everywhere = all(d.get(setting) == reason for _, d in per_run)
            key = setting if everywhere else f"{setting} ({profiles} runs)"
            out[key] = reason
    return out


def deviation_footnotes(table: Table, groups: dict | None = None) -> list[str]:
    """The table's footnote on fidelity (empty when nothing is declared): each declared
    deviation once, with the rows it applies to, and the upstream runs whose own declarations
    also shape these numbers (proposals, initialisation, merged parts)."""
    runnable = [r for r in table.rows.values() if r.runnable]
    by_reason: dict[tuple[str, str], list[str]] = {}
    upstream: dict[str, list[str]] = {}
    for row in runnable:
        records = [r for g in (groups or {}).get(row.id, {}).values() for r in g.records]
        for setting, reason in row_deviations(row, records).items():
            by_reason.setdefault((setting, reason), []).append(row.letter)
        for dep in row.deps:
            if dep != row.same_as:
                upstream.setdefault(dep, []).append(row.letter)
    if not by_reason and not upstream:
        return []
    every = [r.letter for r in runnable]
    parts = [f"({i}) {setting}, {_rows(letters, every)}: {reason}"
             for i, ((setting, reason), letters) in enumerate(by_reason.items(), 1)]
    text = (f"Declared deviations from the paper, or where it is silent from py-faster-rcnn (row "
            f"configs' paper_deviations; `harness audit {table.id}` shows each setting): "
            + ("; ".join(parts) if parts else "none") + ".")
    if upstream:
        text += " Upstream runs whose declared deviations apply too: " + "; ".join(
            f"{dep} ({_rows(letters, every)})" for dep, letters in upstream.items()) + "."
    return [text]


def _rows(letters: list[str], every: list[str]) -> str:
    if letters == every and len(every) > 1:
        return "all rows"
    return f"row{'s' if len(letters) > 1 else ''} {', '.join(f'({x})' for x in letters)}"


# ---- claims -----------------------------------------------------------------------------------

def claims_intro(tol: float) -> str:
    """How the claims are encoded, stated once (harness/paper/claims.py has the same rules)."""
    return ("Each claim compares two rows; delta = A - B, means over seeds, reproduction runs "
            "only: a `paper`-profile run that is not a reproduction never enters, one judged "
            "with --allow-deviations has its reasons in the note (smoke deltas appear in "
            "parentheses, for information). The quote is the paper's; "
            "words in brackets are ours. The words decide the rule (tolerance "
            f"{tol:g}, d = the gap in the paper's tables): a stated number of points N ('8.0 "
            f"points', '10 points higher', 'another point' = 1) holds if delta >= N - {tol:g}, "
            "with N as written; 'increases ... to V' holds if delta >= d - "
            f"{tol:g}; a gap in words only ('far behind', 'significantly') if delta >= 0.8 d - "
            f"{tol:g}; a direction ('better', 'marginally', 'a small margin') if delta > 0; 'no "
            f"advantage' if delta <= {tol:g}; 'on par' and 'largely unchanged' if |delta| <= |d| + "
            f"{tol:g}, no further apart than the rows the paper calls so; 'nearly double' if A >= "
            f"r B - {tol:g} with r the paper's ratio; 'reduces the testing time' if A is faster than "
            "B on the same device. Claims on test-dev numbers read 'COCO server only'. A verdict "
            "whose margin to its threshold is smaller than the run-to-run spread says so. "
            "Literature rows (He et al., SharpMask) enter with their published numbers.")


def claim_text(claim: Claim) -> str:
    return f'"{claim.quote}"' + (f" [{claim.context}]" if claim.context else "")


def paper_delta_text(claim: Claim) -> str:
    if claim.paper_delta is None:
        return "-"
    text = f"{claim.paper_delta:+.1f}"
    if claim.kind == "ratio":
        text += f" (x{claim.stated:.2f})"
    return text + (" ms" if claim.metric == TIME else "")
