"""The report's figures, as matplotlib Figure objects (no pyplot state, Agg for the PNGs).

Every measured bar or point is labelled by profile: `paper` runs are solid, anything else
(smoke) is hatched or hollow and called a pipeline check. A row without a finished run gets the
words `not run` where its bar would be, never a number."""
from __future__ import annotations

import math
import re

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.report.aggregate import Group
from harness.paper.rows import Table

PAGE_IN = (11.69, 8.27)
PUBLISHED_C, JUDGED_C, SMOKE_C = "#3b6ea5", "#e08a1e", "#9a9a9a"
TABLE_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
SIZE_METRIC = re.compile(r"_(s|m|l)(@|$|\b)")


def _style(g: Group) -> dict:
    if g.judged:
        return dict(color=JUDGED_C, label=f"measured ({g.profile})")
    return dict(color="white", edgecolor=SMOKE_C, hatch="////",
                label=f"measured ({g.profile}: " + ("not a reproduction, " if g.reproduction_profile
                                                    else "pipeline check, ") + "not judged)")


def _page(title: str, caption: str) -> Figure:
    fig = Figure(figsize=PAGE_IN)
    FigureCanvasAgg(fig)   # Agg, never a GUI backend (and no pyplot global state)
    fig.suptitle(title, fontsize=13, fontweight="bold", y=0.975)
    fig.text(0.5, 0.035, caption, ha="center", va="bottom", fontsize=8, color="#444444",
             wrap=True)
    return fig


def _grid(fig: Figure, n: int):
    ncol = 2 if n == 4 else min(3, n)
    nrow = math.ceil(n / ncol)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.86, bottom=0.14, hspace=0.55, wspace=0.25)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return flat[:n]


def _bars(ax, labels, published, groups_per_label, metrics):
    """Per x position: the published bar, then one measured bar per profile (its metric is
    metrics[i]: one metric across rows, or one row across size buckets)."""
    profiles = sorted({g.profile for gs in groups_per_label for g in gs},
                      key=lambda p: (p != "paper", p))
    width = 0.8 / (1 + max(1, len(profiles)))
    x = np.arange(len(labels))
    ax.bar(x - 0.4 + width / 2, [np.nan if v is None else v for v in published], width,
           color=PUBLISHED_C, label="published")
    top = max([v for v in published if v is not None] + [1.0])
    for j, prof in enumerate(profiles or [None], start=1):
        for i, gs in enumerate(groups_per_label):
            g = next((g for g in gs if g.profile == prof), None)
            xi = x[i] - 0.4 + width * (j + 0.5)
            cell = g.cell(metrics[i]) if g else None
            if cell is None or cell.na:
                word = "not run" if g is None else "failed" if cell is None else "n/a"
                ax.text(xi, 1, word, rotation=90, ha="center", va="bottom", fontsize=6,
                        color="#666666")
                continue
            ax.bar(xi, cell.mean, width, yerr=cell.std, capsize=2, **_style(g))
            # the value on the bar: a measured 0.0 must not look like a missing bar
            ax.text(xi, cell.mean + (cell.std or 0), f"{cell.mean:.1f}", ha="center",
                    va="bottom", fontsize=5.5, color="#333333")
            top = max(top, cell.mean + (cell.std or 0))
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylim(0, top * 1.15 + 1)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="y", alpha=0.3)


def _legend(fig, axes):
    seen = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="upper center", ncol=len(seen),
                   fontsize=8, bbox_to_anchor=(0.5, 0.935), frameon=False)


def table_bars(table: Table, groups: dict) -> Figure | None:
    """Published vs measured per row, one panel per metric (None: nothing measured)."""
    rows = [r for r in table.rows.values() if not r.literature]
    per_row = [list(groups.get(r.id, {}).values()) for r in rows]
    if not any(g.done for gs in per_row for g in gs):
        return None
    metrics = table.local_metrics
    fig = _page(f"{table.id}: published vs measured, per row",
                f"{table.title}. Error bars: std over seeds where a row has several runs. "
                "Hatched bars are non-reproduction profiles (smoke): a pipeline check, "
                "never compared with the paper.")
    axes = _grid(fig, len(metrics))
    labels = [f"({r.letter})" for r in rows]
    for ax, m in zip(axes, metrics):
        _bars(ax, labels, [r.published[m] for r in rows], per_row, [m] * len(rows))
        ax.set_title(m, fontsize=9)
    _legend(fig, axes)
    return fig


def scatter(tables: dict[str, Table], groups: dict, tol: float) -> Figure | None:
    """Every (published, measured) pair against y = x with the tolerance band."""
    pts = []   # (table index, published, measured, judged)
    for ti, table in enumerate(tables.values()):
        for row in table.rows.values():
            for g in groups.get(row.id, {}).values():
                if g.alias_of:
                    continue   # the same runs are plotted under their own row
                for m in table.metrics:
                    cell, pub = g.cell(m), row.published.get(m)
                    if cell and not cell.na and pub is not None:
                        pts.append((ti, pub, cell.mean, g.judged))
    if not pts:
        return None
    fig = _page("Every published number against its measurement",
                f"One point per row x metric x profile (mean over seeds). Grey band: within "
                f"±{tol:g} points of the paper (the report's tolerance). Filled: reproduction "
                "runs; hollow: not judged (smoke pipeline checks, and paper-profile runs that are "
                "not reproductions).")
    ax = fig.add_axes((0.25, 0.13, 0.5, 0.75))
    hi = max(max(p[1], p[2]) for p in pts) * 1.05 + 2
    xs = np.linspace(0, hi, 50)
    ax.fill_between(xs, xs - tol, xs + tol, color="#cccccc", alpha=0.6, label=f"±{tol:g} band")
    ax.plot(xs, xs, color="black", lw=0.8, label="y = x")
    names = list(tables)
    for ti in sorted({p[0] for p in pts}):
        c = TABLE_COLORS[ti % len(TABLE_COLORS)]
        for judged in (True, False):
            sel = [p for p in pts if p[0] == ti and p[3] == judged]
            if sel:
                ax.scatter([p[1] for p in sel], [p[2] for p in sel], s=22, linewidths=1,
                           facecolors=c if judged else "none", edgecolors=c,
                           label=f"{names[ti]} ({'reproduction' if judged else 'not judged'})")
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("published (%)")
    ax.set_ylabel("measured (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig


def sizes(table: Table, groups: dict) -> Figure | None:
    """AR (or AP) by object size for the pyramid variants: rows with a lateral or top-down
    pathway (Table 1 (c)-(f), Table 2 (c)-(f)). None when the table has no size metrics, fewer
    than two such rows (Table 3), or nothing measured."""
    size_metrics = [m for m in table.metrics if SIZE_METRIC.search(m)]
    rows = [r for r in table.rows.values() if not r.literature and
            (r.columns.get("lateral") or r.columns.get("top_down"))]
    if not size_metrics or len(rows) < 2 or not any(g.done for r in rows
                                               for g in groups.get(r.id, {}).values()):
        return None
    fig = _page(f"{table.id}: {size_metrics[0].split('_')[0]} by object size, pyramid variants",
                "Rows with a lateral and/or top-down pathway. Published vs measured per size "
                "bucket; hatched: not judged (smoke pipeline checks, runs that are not "
                "reproductions).")
    axes = _grid(fig, len(rows))
    labels = [m.split("@")[0] for m in size_metrics]
    for ax, r in zip(axes, rows):
        gs = list(groups.get(r.id, {}).values())
        _bars(ax, labels, [r.published[m] for m in size_metrics], [gs] * len(size_metrics),
              size_metrics)
        ax.set_title(f"({r.letter}) {r.name}", fontsize=9)
    _legend(fig, axes)
    return fig


def runtime(tables: dict[str, Table], groups: dict) -> Figure | None:
    """Measured inference seconds per image per row (and the paper's, where its table has a
    time column: Table 6, on an M40 GPU)."""
    bars = []   # (label, measured, published or None, device, judged)
    for table in tables.values():
        for row in table.rows.values():
            for g in groups.get(row.id, {}).values():
                rt = g.runtime() if not g.alias_of else None
                if rt:   # the paper's time, where it gives one (Sec. 5.2.2 and Table 6)
                    bars.append((f"{row.id} ({g.profile})", rt[0], row.paper_time_s, rt[1],
                                 g.judged))
    if not bars:
        return None
    fig = _page("Inference time per image, per row",
                "Measured: MMEngine's test-loop timer, warm-up iterations excluded, data loading "
                "included, on the device named per bar. Published: the paper's timings (Sec. 5.2.2 "
                "and Table 6, one NVIDIA M40). A CPU time is a number for the record, not a reproduction.")
    ax = fig.add_axes((0.22, 0.13, 0.72, 0.75))
    y = np.arange(len(bars))
    ax.barh(y + 0.2, [b[1] for b in bars], 0.4,
            color=[JUDGED_C if b[4] else SMOKE_C for b in bars], label="measured")
    ax.barh(y - 0.2, [np.nan if b[2] is None else b[2] for b in bars], 0.4, color=PUBLISHED_C,
            label="published (M40 GPU)")
    for yi, b in zip(y, bars):
        ax.text(b[1], yi + 0.2, f" {b[1]:.3f} s ({b[3]})", va="center", fontsize=6)
    ax.set_yticks(y, [b[0] for b in bars], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("seconds per image")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_xlim(0, max(max(b[1], b[2] or 0) for b in bars) * 1.3)
    return fig
