"""`harness list`: tables, rows, published numbers and which results exist."""
from __future__ import annotations

from harness.config.anchors import table_anchors
from harness.errors import HarnessError
from harness.paper.rows import load_tables
from harness.report.verdict import judgement_mark
from harness.store import Store


def fmt(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def _results_by_row(store: Store) -> dict[str, list[str]]:
    records, _ = store.scan()
    out: dict[str, list[str]] = {}
    for rec in records:
        # a paper-profile run that is not a reproduction says so (status and report say why)
        mark = " (not judged)" if judgement_mark(rec).startswith("not judged") else \
            " (judged with deviations)" if judgement_mark(rec) else ""
        out.setdefault(rec["row"], []).append(f"{rec['profile']}:{rec['status']}{mark}")
    return out


def render_list(store: Store, table_ids: list[str] | None = None) -> str:
    tables = load_tables()
    for tid in table_ids or []:
        if tid.lower() not in tables:
            raise HarnessError(f"unknown table '{tid}'; valid tables: {', '.join(tables)}")
    chosen = [tables[t.lower()] for t in table_ids] if table_ids else list(tables.values())
    results = _results_by_row(store)
    lines = []
    for table in chosen:
        lines.append(f"{table.id}: {table.title} (Sec. {table.section})")
        anchors = table_anchors(table)
        head = ["row", "name", *table.columns, *table.metrics, "config", "results"]
        body = []
        for row in table.rows.values():
            cols = [("yes" if v else "no") if isinstance(v, bool) else str(v or "-")
                    for v in row.columns.values()]
            if anchors:  # published / computed
                i = table.columns.index("anchors")
                cols[i] = f"{cols[i]} / {anchors.get(row.id, '-')}"
            config = "literature only" if row.literature else (row.config or "not runnable yet")
            body.append([row.id, row.name, *cols, *(fmt(row.published[m]) for m in table.metrics),
                         config, ", ".join(results.get(row.id, [])) or "none"])
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
        for r in [head, *body]:
            lines.append("  " + "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip())
        if table.steps:
            lines.append("  steps (run as dependencies, not in the paper's table):")
            for step in table.steps.values():
                needs = ", ".join(step.deps)
                lines.append(f"    {step.id}  {step.name}  [{step.config}"
                             + (f"; needs {needs}" if needs else "") + "]  "
                             + (", ".join(results.get(step.id, [])) or "none"))
        lines.append("")
    return "\n".join(lines).rstrip()
