"""The monitoring dashboard's figures, as inline SVG: the trend sparklines (drawn here, a
few numbers each) and the funnel plot of the AE and SAE rates (matplotlib, like the
reports' figures). Nothing from data entry reaches them: only numbers and site labels, and
the labels are escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from sgbm_redcap.reports.figures import OKABE_ITO, _figure, to_svg

SPARK_W, SPARK_H = 96, 22


def sparkline(values: Sequence[float], *, label: str) -> Markup:
    """A small polyline of the monthly values (gaps where a month has none), with the last
    value marked; ``label`` is its accessible name."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None and not math.isnan(v)]
    title = escape(label)
    if len(pts) < 2:
        return Markup('<svg class="spark" role="img" width="{w}" height="{h}" '  # noqa: S704
                      'aria-label="{t}"><title>{t}</title></svg>').format(
                          w=SPARK_W, h=SPARK_H, t=title)
    lo = min(v for _, v in pts)
    hi = max(v for _, v in pts)
    span = (hi - lo) or 1.0
    n = max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return 2 + i * (SPARK_W - 4) / n, SPARK_H - 2 - (v - lo) / span * (SPARK_H - 4)

    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in pts))
    lx, ly = xy(*pts[-1])
    return Markup(  # noqa: S704 - numbers and an escaped label only
        f'<svg class="spark" role="img" width="{SPARK_W}" height="{SPARK_H}" '
        f'viewBox="0 0 {SPARK_W} {SPARK_H}" aria-label="{title}"><title>{title}</title>'
        f'<polyline fill="none" stroke="{OKABE_ITO[4]}" stroke-width="1.5" '
        f'points="{coords}"/><circle cx="{lx:.1f}" cy="{ly:.1f}" r="2" '
        f'fill="{OKABE_ITO[3]}"/></svg>')


def poisson_limits(rate: float, months: np.ndarray, level: float) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """The two-sided ``level`` limits of a rate observed over ``months`` when the true
    rate is ``rate`` (exact Poisson quantiles of the count, divided by the exposure)."""
    from scipy import stats

    tail = (1 - level) / 2
    mu = rate * months
    return (stats.poisson.ppf(tail, mu) / months, stats.poisson.isf(tail, mu) / months)


def funnel_figure(funnel: pd.DataFrame, pooled: float, *, title: str, figure_id: str,
                  labels: dict[str, str]) -> Markup:
    """Each site's rate against its patient-months, with the pooled rate and its 95% and
    99.8% Poisson limits."""
    fig, ax = _figure(4.2, 3.0)
    if not len(funnel) or not pooled or math.isnan(pooled):
        ax.text(0.5, 0.5, "not estimable", ha="center", va="center", transform=ax.transAxes)
        return to_svg(fig, figure_id)
    top = float(funnel["months"].max()) * 1.15
    grid = np.linspace(max(top / 200, 0.5), top, 200)
    for level, style in ((0.95, "--"), (0.998, ":")):
        low, high = poisson_limits(pooled, grid, level)
        ax.plot(grid, low, style, color="0.4", lw=1, label=f"{level:.1%} limits")
        ax.plot(grid, high, style, color="0.4", lw=1)
    ax.axhline(pooled, color=OKABE_ITO[4], lw=1, label="pooled rate")
    ax.scatter(funnel["months"], funnel["rate"], color=OKABE_ITO[3], zorder=3, s=18)
    for row in funnel.itertuples(index=False):
        ax.annotate(labels.get(row.site, row.site), (row.months, row.rate), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("Patient-months on treatment")
    ax.set_ylabel(title)
    ax.legend(fontsize=7, loc="upper right")
    return to_svg(fig, figure_id)


__all__ = ["funnel_figure", "poisson_limits", "sparkline"]
