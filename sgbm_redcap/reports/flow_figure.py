"""The CONSORT/STROBE-style patient-flow diagram, drawn with matplotlib as inline SVG.

Plain input: one :class:`FlowRow` per level of the diagram, each a main box (centre column)
and optional side boxes (right: who left the flow at that step; left: a status split). Main
boxes are joined by downward arrows, side boxes by an arrow from the main box of their row.
The first line of each box is drawn in bold.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from markupsafe import Markup
from matplotlib.patches import Rectangle

from sgbm_redcap.reports.figures import _figure, to_svg

_INK, _EDGE, _FILL, _SIDE = "#1a1a1a", "#0b4f8a", "#eef3f8", "#fafafa"
_WIDTH = 7.0                                    # inches
_COLUMNS = {"left": (0.0, 2.25), "main": (2.5, 2.0), "right": (4.75, 2.25)}
_FONT, _SPACING = 6.8, 1.25                     # points; matplotlib's linespacing
#: one line of text, inches: matplotlib advances linespacing × ~1.2 font sizes per line
_LINE = _SPACING * 1.24 * _FONT / 72
_PAD, _GAP = 0.08, 0.28                         # inches
#: average advance of a DejaVu Sans character, in font sizes, regular and bold
_CHAR_EM, _BOLD_EM = 0.66, 0.76


@dataclass(frozen=True)
class FlowRow:
    main: list[str]
    right: list[str] | None = None
    left: list[str] | None = None


def _wrap(lines: list[str], width: float) -> tuple[int, list[str]]:
    """The box's lines wrapped to its width, and how many of them (the first line's) are
    bold."""
    usable = (width - 2 * _PAD) * 72 / _FONT
    head = textwrap.wrap(lines[0], max(12, int(usable / _BOLD_EM))) or [""]
    out = list(head)
    for line in lines[1:]:
        indent = "   " if line.startswith("• ") else ""
        out += textwrap.wrap(line, max(16, int(usable / _CHAR_EM)),
                             subsequent_indent=indent) or [""]
    return len(head), out


def _height(lines: list[str]) -> float:
    return len(lines) * _LINE + 2 * _PAD


def flow_figure(rows: list[FlowRow], *, figure_id: str = "flow") -> Markup:
    """The diagram of ``rows``, top to bottom."""
    wrapped = [{k: _wrap(v, _COLUMNS[k][1]) for k, v in
                (("main", r.main), ("right", r.right), ("left", r.left)) if v} for r in rows]
    heights = [max(_height(v[1]) for v in w.values()) for w in wrapped]
    total = sum(heights) + _GAP * (len(rows) - 1)
    fig, ax = _figure(_WIDTH, total)
    ax.set_xlim(0, _WIDTH)
    ax.set_ylim(total, 0)
    ax.axis("off")
    top, previous_bottom = 0.0, None
    for w, h in zip(wrapped, heights, strict=True):
        middle = top + h / 2
        boxes = {}
        for column, (bold, lines) in w.items():
            x, width = _COLUMNS[column]
            bh = _height(lines)
            y = middle - bh / 2
            ax.add_patch(Rectangle((x, y), width, bh, facecolor=_FILL if column == "main"
                                   else _SIDE, edgecolor=_EDGE, linewidth=0.8))
            ax.text(x + _PAD, y + _PAD, "\n".join(lines[:bold]), va="top", ha="left",
                    fontsize=_FONT, color=_INK, fontweight="bold", linespacing=_SPACING)
            if len(lines) > bold:
                ax.text(x + _PAD, y + _PAD + bold * _LINE, "\n".join(lines[bold:]), va="top",
                        ha="left", fontsize=_FONT, color=_INK, linespacing=_SPACING)
            boxes[column] = (y, bh)
        mx, mw = _COLUMNS["main"]
        main_y, main_h = boxes["main"]
        if previous_bottom is not None:
            _arrow(ax, (mx + mw / 2, previous_bottom), (mx + mw / 2, main_y))
        if "right" in boxes:
            _arrow(ax, (mx + mw, middle), (_COLUMNS["right"][0], middle))
        if "left" in boxes:
            _arrow(ax, (mx, middle), (sum(_COLUMNS["left"]), middle))
        previous_bottom = main_y + main_h
        top += h + _GAP
    return to_svg(fig, figure_id)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate("", xy=end, xytext=start,
                arrowprops={"arrowstyle": "-|>", "color": _EDGE, "lw": 0.8,
                            "shrinkA": 0, "shrinkB": 0, "mutation_scale": 8})
