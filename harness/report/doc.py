"""The report as a list of blocks, rendered twice: to markdown here, to PDF in harness/report/pdf.py.

One list for both outputs means the PDF and the markdown cannot drift apart. Cell shades name a
verdict (see SHADES); each renderer picks its own way to show them."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# verdict key -> PDF cell colour (markdown shows the verdict word itself)
SHADES = {"within": "#d9f2d9", "holds": "#d9f2d9", "outside": "#f8d4d4", "fails": "#f8d4d4",
          "not_judged": "#ececec", "not_enough": "#fff3cd", "not_run": "#ffffff",
          "failed": "#f3c6a5", "header": "#dde3ea", "literature": "#f4f4f4"}


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str
    small: bool = False


@dataclass
class Bullets:
    items: list[str]
    small: bool = True


@dataclass
class TableBlock:
    header: list[str]
    rows: list[list[str]]
    shades: list[list[str | None]] | None = None   # per cell: a SHADES key or None
    widths: list[float] | None = None              # PDF only: relative column weights


@dataclass
class FigureBlock:
    path: Path          # the PNG (markdown links it relative to the report)
    caption: str
    figure: object = field(default=None, repr=False)   # the live matplotlib Figure (PDF page)


def _md_cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", "<br>")


def to_markdown(blocks: list, base: Path | None = None) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            out += [b.text, ""]
        elif isinstance(b, Bullets):
            out += [f"- {i}" for i in b.items] + [""]
        elif isinstance(b, TableBlock):
            out.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            out.append("|" + "---|" * len(b.header))
            for r in b.rows:
                line = "| " + " | ".join(_md_cell(c) for c in r) + " |"
                # two asterisks on a line ("3(*)" twice) would turn into emphasis
                out.append(line.replace("*", "\\*") if line.count("*") > 1 else line)
            out.append("")
        elif isinstance(b, FigureBlock):
            rel = Path(b.path)
            if base is not None:
                try:
                    rel = rel.relative_to(base)
                except ValueError:
                    pass
            out += [f"![{b.caption}]({rel.as_posix()})", "", f"*{b.caption}*", ""]
    return "\n".join(out).rstrip() + "\n"


_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
_ITALIC = re.compile(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])")


def plain(text: str) -> str:
    """Markdown inline markup -> plain text for the PDF."""
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _ITALIC.sub(r"\1", text.replace("**", ""))
    return text.replace("`", "").replace("<br>", "\n").replace("\\*", "*")
