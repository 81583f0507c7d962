"""Blocks (harness/report/doc.py) -> a PDF, with matplotlib only: no LaTeX, no network, no
embedded fonts: the text is set in Helvetica, a PDF core font every viewer has (searchable, and
measured from its AFM metrics instead of rasterised by FreeType, which made the PDF slow).

Text and tables flow over A4 landscape pages drawn in point coordinates; a table too wide for
the page gets a smaller font and wrapped cells, a table too long continues on the next page
under a repeated header. Each figure is a page of its own."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from harness.store import atomic_file
from harness.report.doc import SHADES, Bullets, FigureBlock, Heading, Para, TableBlock, plain

PAGE_IN = (11.69, 8.27)                 # A4 landscape
W, H = PAGE_IN[0] * 72, PAGE_IN[1] * 72  # points
MARGIN, FOOTER = 32.0, 18.0
TEXT_W = W - 2 * MARGIN
FONT_SIZES = (7.0, 6.5, 6.0, 5.5, 5.0, 4.5)
PAD_X, PAD_Y = 2.5, 1.8


@lru_cache(maxsize=2)
def _metrics(bold: bool):
    """Helvetica's metrics (Adobe's AFM file, shipped with matplotlib): the PDF's text is set in
    the PDF core font, which every viewer has, so nothing is embedded and nothing is rasterised
    to measure it; FreeType-measured DejaVu made text drawing the report's slowest part."""
    from matplotlib._afm import AFM
    name = "Helvetica-Bold.afm" if bold else "Helvetica.afm"
    with open(Path(matplotlib.get_data_path(), "fonts", "pdfcorefonts", name), "rb") as fh:
        return AFM(fh)


@lru_cache(maxsize=None)
def _char_width(ch: str, bold: bool) -> float:
    """Advance width of one character at 100 pt, as matplotlib's PDF backend measures core-font
    text (matplotlib is pinned in requirements/runtime.txt: `_afm` is its own module)."""
    return _metrics(bold).get_str_bbox_and_descent(ch)[2] / 10.0


def text_width(s: str, size: float, bold: bool = False) -> float:
    """Width in points: the sum of character advances (kerning ignored, hence the 4 % margin)."""
    return 1.04 * size / 100 * sum(_char_width(ch, bold) for ch in s)


def wrap(text: str, width: float, size: float, bold: bool = False) -> list[str]:
    """Greedy word wrap to `width` points; a word wider than that is cut by characters."""
    out = []
    for para in str(text).split("\n"):
        line = ""
        for word in para.split(" "):
            cand = f"{line} {word}" if line else word
            if text_width(cand, size, bold) <= width:
                line = cand
                continue
            if line:
                out.append(line)
            while text_width(word, size, bold) > width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and text_width(word[:cut], size, bold) > width:
                    cut -= 1
                slash = word.rfind("/", 1, cut)   # paths break after a separator
                cut = slash + 1 if slash > cut // 2 else cut
                out.append(word[:cut])
                word = word[cut:]
            line = word
        out.append(line)
    return out


def _col_widths(cells: list[list[str]], size: float, weights) -> list[float] | None:
    """Column widths that fit TEXT_W at this font size, or None if they cannot."""
    ncol = len(cells[0])
    bold = [True] + [False] * (len(cells) - 1)   # the header row is set in bold
    natural = [max(max((text_width(ln, size, b) for ln in str(r[c]).split("\n")), default=0)
                   for r, b in zip(cells, bold)) + 2 * PAD_X for c in range(ncol)]
    # words longer than 70 pt (paths, hashes) may be cut, so they do not set the minimum
    least = [min(max((text_width(w, size, b) for r, b in zip(cells, bold)
                      for w in str(r[c]).split()), default=0), 70.0) + 2 * PAD_X
             for c in range(ncol)]
    if sum(natural) <= TEXT_W:
        return natural
    if sum(least) > TEXT_W:
        return None
    spare = TEXT_W - sum(least)
    want = [(n - m) * (weights[i] if weights else 1.0) for i, (n, m) in enumerate(zip(natural, least))]
    total = sum(want) or 1.0
    return [m + spare * w / total for m, w in zip(least, want)]


class _Writer:
    def __init__(self, pdf: PdfPages, title: str):
        self.pdf, self.title, self.page = pdf, title, 0
        self._new()

    def _new(self):
        self.fig = Figure(figsize=PAGE_IN)
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, W)
        self.ax.set_ylim(0, H)
        self.ax.axis("off")
        self.y = H - MARGIN
        self.empty = True

    def _footer(self, fig: Figure):
        self.page += 1
        fig.text(0.5, 8 / H, f"{self.title}, page {self.page}", ha="center", va="bottom",
                 fontsize=6.5, color="#777777")

    def flush(self):
        if not self.empty:
            self._footer(self.fig)
            self.pdf.savefig(self.fig)
        self._new()

    def need(self, h: float):
        if self.y - h < MARGIN + FOOTER and not self.empty:
            self.flush()

    def text(self, s: str, size: float = 8.0, bold: bool = False, indent: float = 0.0,
             space_after: float = 4.0, color: str = "black"):
        lines = wrap(plain(s), TEXT_W - indent, size, bold)
        lh = size * 1.3
        for ln in lines:
            self.need(lh)
            self.ax.text(MARGIN + indent, self.y, ln, fontsize=size, va="top", ha="left",
                         fontweight="bold" if bold else "normal", color=color)
            self.y -= lh
            self.empty = False
        self.y -= space_after

    def table(self, t: TableBlock):
        cells = [[plain(h) for h in t.header]] + [[plain(c) for c in r] for r in t.rows]
        for size in FONT_SIZES:
            widths = _col_widths(cells, size, t.widths)
            if widths is not None:
                break
        else:  # still too wide at the smallest size: share the page evenly, cut words
            size, widths = FONT_SIZES[-1], [TEXT_W / len(cells[0])] * len(cells[0])
        lh = size * 1.25
        wrapped = [[wrap(c, w - 2 * PAD_X, size, bold=(i == 0)) for c, w in zip(r, widths)]
                   for i, r in enumerate(cells)]
        heights = [max(len(c) for c in r) * lh + 2 * PAD_Y for r in wrapped]
        shades = [["header"] * len(cells[0])] + (t.shades or [[None] * len(cells[0])] * len(t.rows))
        self.need(heights[0] + (heights[1] if len(heights) > 1 else 0))
        self._row(wrapped[0], widths, heights[0], shades[0], size, lh, bold=True)
        for r, h, sh in zip(wrapped[1:], heights[1:], shades[1:]):
            if self.y - h < MARGIN + FOOTER:
                self.flush()
                self._row(wrapped[0], widths, heights[0], shades[0], size, lh, bold=True)
            self._row(r, widths, h, sh, size, lh)
        self.y -= 6

    def _row(self, row, widths, h, shades, size, lh, bold=False):
        x = MARGIN
        for lines, w, shade in zip(row, widths, shades):
            # add_artist, not add_patch: the axes limits are fixed, and add_patch's limit
            # update cost more than drawing the whole table
            self.ax.add_artist(Rectangle((x, self.y - h), w, h, facecolor=SHADES.get(shade, "white"),
                                        edgecolor="#b8b8b8", linewidth=0.4))
            if any(lines):   # one text object per cell: drawing text is the slow part
                self.ax.text(x + PAD_X, self.y - PAD_Y, "\n".join(lines), fontsize=size,
                             va="top", ha="left", linespacing=lh / size,
                             fontweight="bold" if bold else "normal")
            x += w
        self.y -= h
        self.empty = False

    def figure(self, fig: Figure):
        self.flush()
        self._footer(fig)
        self.pdf.savefig(fig)


@contextmanager
def _quiet_font_fallback():
    """Figures are made with DejaVu Sans and the text pages ask for weight 'normal'; in the
    core-font PDF both fall back to Helvetica (Medium), which is what we want, but matplotlib logs
    every such lookup as a warning: a report would print dozens of findfont lines."""
    log = logging.getLogger("matplotlib.font_manager")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def write_pdf(blocks: list, path: Path, title: str) -> Path:
    """Render blocks to `path` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    with atomic_file(path) as tmp:
        with matplotlib.rc_context({"pdf.use14corefonts": True, "font.family": "Helvetica"}), \
                _quiet_font_fallback():
            with PdfPages(tmp, metadata={"Title": title, "Creator": "fpn-repro harness report",
                                         "CreationDate": None}) as pdf:
                w = _Writer(pdf, title)
                for i, b in enumerate(blocks):
                    nxt = blocks[i + 1] if i + 1 < len(blocks) else None
                    if isinstance(b, Heading):
                        if isinstance(nxt, FigureBlock):
                            continue   # a figure page carries its own title
                        size = {1: 16.0, 2: 12.0}.get(b.level, 10.0)
                        w.need(size * 4)   # keep a heading with what follows it
                        w.y -= 4 if b.level > 1 else 0
                        w.text(b.text, size=size, bold=True, space_after=3)
                    elif isinstance(b, Para):
                        bold = b.text.startswith("**") and b.text.endswith("**")
                        w.text(b.text, size=6.8 if b.small else 8.0, bold=bold,
                               color="#a01010" if bold else "black")
                    elif isinstance(b, Bullets):
                        for item in b.items:
                            w.text("• " + item, size=6.8 if b.small else 8.0, indent=6,
                                   space_after=1)
                        w.y -= 3
                    elif isinstance(b, TableBlock):
                        w.table(b)
                    elif isinstance(b, FigureBlock) and b.figure is not None:
                        w.figure(b.figure)
                w.flush()
    return path
