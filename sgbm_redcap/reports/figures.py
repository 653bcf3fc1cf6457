"""The report's figures, drawn with matplotlib from plain inputs (arrays, DataFrames).

Every function returns a :class:`markupsafe.Markup` holding an ``<svg>`` element: inline in
the HTML report and drawn as vectors by WeasyPrint in the PDF. Text stays text
(``svg.fonttype = none``), so figures are searchable and small. Each figure gets its own
``svg.hashsalt`` so the clip-path ids of several inline SVGs never collide in one page.
Colours are the Okabe–Ito palette (readable with colour-vision deficiency).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from markupsafe import Markup  # noqa: E402

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000"]
#: Best-response colours, in the order a clinician reads them.
RESPONSE_COLOURS = {"CR": "#009E73", "PR": "#56B4E9", "SD": "#E69F00",
                    "non-CR/non-PD": "#F0E442", "PD": "#D55E00", "NE": "#999999"}

_RC = {
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9.5,
    "axes.labelsize": 8.5,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
}
_XML_HEAD = re.compile(r"^.*?(?=<svg)", re.S)


def to_svg(fig: plt.Figure, figure_id: str) -> Markup:
    """Serialise ``fig`` as an inline ``<svg>`` (no XML prolog) and close it."""
    buf = io.StringIO()
    with plt.rc_context({"svg.hashsalt": figure_id}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None},
                    bbox_inches="tight")
    plt.close(fig)
    text = _XML_HEAD.sub("", buf.getvalue(), count=1)
    # Several figures share one HTML page: make every id (and reference to it) unique.
    text = re.sub(r'(\bid="|url\(#|href="#)([^")]+)', rf"\g<1>{figure_id}-\g<2>", text)
    # Let CSS size the figure to the column while keeping its aspect ratio.
    text = re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"',
                  rf'<svg\1 class="figure" id="svg-{figure_id}"', text, count=1)
    return Markup(text)  # noqa: S704 (matplotlib escapes every text it writes into SVG)


def _figure(width: float, height: float) -> tuple[plt.Figure, plt.Axes]:
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def _empty(figure_id: str, message: str) -> Markup:
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(6.5, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, message, ha="center", va="center", color="#555555")
        return to_svg(fig, figure_id)


# --------------------------------------------------------------------------- enrolment
def enrolment_figure(enrolment: pd.DataFrame, *, target: int | None = None,
                     figure_id: str = "enrolment") -> Markup:
    """Patients enrolled per month, stacked by site, with the cumulative total against the
    target (none drawn when ``target`` is None). ``enrolment`` has one row per enrolled
    patient: ``enrol_date``, ``site``."""
    if enrolment.empty:
        return _empty(figure_id, "No patient enrolled yet.")
    frame = enrolment.assign(month=pd.to_datetime(enrolment["enrol_date"]).dt.to_period("M"))
    counts = frame.groupby(["month", "site"], observed=True).size().unstack(fill_value=0)
    months = pd.period_range(counts.index.min(), counts.index.max(), freq="M")
    counts = counts.reindex(months, fill_value=0)
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7.0, 3.0))
        x = np.arange(len(months))
        bottom = np.zeros(len(months))
        for i, site in enumerate(counts.columns):
            ax.bar(x, counts[site].to_numpy(), bottom=bottom, width=0.8,
                   color=OKABE_ITO[i % len(OKABE_ITO)], label=str(site))
            bottom += counts[site].to_numpy()
        ax.set_ylabel("Patients enrolled per month")
        step = max(1, math.ceil(len(months) / 12))
        ax.set_xticks(x[::step], [m.strftime("%b %Y") for m in months[::step]], rotation=45,
                      ha="right")
        ax2 = ax.twinx()
        cumulative = np.cumsum(counts.sum(axis=1).to_numpy())
        ax2.plot(x, cumulative, color="#000000", marker="o", markersize=2.5, lw=1.4,
                 label="Cumulative")
        if target is not None:
            # the target is a cumulative count: its line and label belong to the right axis
            ax2.axhline(target, color="#D55E00", ls="--", lw=1)
            ax2.text(x[-1] + 0.4, target, f"target {target} ", va="bottom", ha="right",
                     color="#D55E00", fontsize=7.5)
        ax2.set_ylim(0, max(target or 0, cumulative.max()) * 1.1)
        ax2.set_ylabel("Cumulative enrolled")
        ax2.spines["right"].set_visible(True)
        handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
        ax.legend(handles, labels, loc="upper left", ncol=min(4, len(labels)),
                  bbox_to_anchor=(0, 1.18))
        return to_svg(fig, figure_id)


# --------------------------------------------------------------------------- waterfall
def waterfall_figure(best: pd.DataFrame, *, figure_id: str = "waterfall") -> Markup:
    """Best % change from baseline in the intracranial SLD, one bar per patient, sorted,
    coloured by best overall response. ``best``: ``record_id``, ``best_pct_change``,
    ``bor`` (CR/PR/SD/PD/NE…), optional ``new_lesion`` (bool: a new brain lesion recorded,
    marked above the bar). A 0% change is drawn as a short mark on the zero line, and the
    threshold labels sit outside the plot so that no bar is hidden behind them."""
    data = best.dropna(subset=["best_pct_change"]).sort_values("best_pct_change",
                                                               ascending=False)
    if data.empty:
        return _empty(figure_id, "No patient has a post-baseline target-lesion measurement.")
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7.0, 3.2))
        x = np.arange(len(data))
        values = data["best_pct_change"].clip(upper=100).to_numpy(dtype=float)
        colours = [RESPONSE_COLOURS.get(str(b), "#999999") for b in data["bor"]]
        ax.axhline(20, color="#D55E00", ls="--", lw=0.8, zorder=1)
        ax.axhline(-30, color="#0072B2", ls="--", lw=0.8, zorder=1)
        ax.bar(x, values, color=colours, width=0.85, edgecolor="none", zorder=2)
        ax.axhline(0, color="#333333", lw=0.6, zorder=3)
        zero = np.abs(values) < 0.5
        if zero.any():
            ax.scatter(x[zero], np.zeros(int(zero.sum())), marker="s", s=10, zorder=4,
                       color=[c for c, z in zip(colours, zero, strict=True) if z])
        axis = ax.get_yaxis_transform()
        ax.text(1.005, 20, "+20%", transform=axis, ha="left", va="center", fontsize=7,
                color="#D55E00", clip_on=False)
        ax.text(1.005, -30, "−30%", transform=axis, ha="left", va="center", fontsize=7,
                color="#0072B2", clip_on=False)
        if "new_lesion" in data and data["new_lesion"].fillna(False).astype(bool).any():
            new = data["new_lesion"].fillna(False).astype(bool).to_numpy()
            ax.scatter(x[new], np.maximum(values[new], 0) + 6, marker="*", s=18,
                       color="#000000", zorder=5, label="New brain lesion")
        ax.set_xticks([])
        ax.set_xlim(-0.7, len(x) - 0.3)
        ax.set_ylim(min(-100, values.min() - 5), max(40, values.max() + 10))
        ax.set_ylabel("Best change in intracranial SLD (%)")
        ax.set_xlabel(f"Patients with a measured target lesion (n = {len(data)})")
        present = [k for k in RESPONSE_COLOURS if k in set(map(str, data["bor"]))]
        handles = [plt.Rectangle((0, 0), 1, 1, color=RESPONSE_COLOURS[k]) for k in present]
        names = [f"Best response {k}" if i == 0 else k for i, k in enumerate(present)]
        star = ax.get_legend_handles_labels()
        # above the plot: inside it, the legend covered the deepest responses
        ax.legend(handles + star[0], names + star[1], loc="lower center",
                  bbox_to_anchor=(0.5, 1.0), ncol=len(present) + len(star[0]))
        if (data["best_pct_change"] > 100).any():
            ax.text(0, 100, "bars capped at +100%", fontsize=7, color="#555555", va="bottom")
        return to_svg(fig, figure_id)


# --------------------------------------------------------------------------- swimmer
def swimmer_figure(swim: pd.DataFrame, *, figure_id: str = "swimmer") -> Markup:
    """Follow-up per patient (months from SG start to death, last contact or the cut-off: a
    light bar), the time on SG as the dark part of it, and the first response, intracranial
    progression and death marked (a death at the end of its own bar). ``swim``:
    ``record_id``, ``months`` (on SG), ``ongoing`` (bool), optional ``followup_month``,
    ``response_month``, ``ipd_month``, ``death_month``, ``subtype``."""
    if swim.empty:
        return _empty(figure_id, "No patient has started SG.")
    total = swim["followup_month"] if "followup_month" in swim else swim["months"]
    swim = swim.assign(followup_month=np.fmax(total.astype(float), swim["months"].astype(float)))
    data = swim.sort_values(["followup_month", "months"]).reset_index(drop=True)
    height = min(9.0, max(2.5, 0.085 * len(data) + 1.2))
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7.0, height))
        y = np.arange(len(data))
        subtypes = data["subtype"].astype(str) if "subtype" in data else pd.Series(
            ["all"] * len(data))
        palette = {s: OKABE_ITO[i % 6] for i, s in enumerate(sorted(subtypes.unique()))}
        ax.barh(y, data["followup_month"].to_numpy(dtype=float), height=0.7, color="#DDDDDD",
                edgecolor="none", label="Follow-up")
        ax.barh(y, data["months"].to_numpy(dtype=float), height=0.7,
                color=[palette[s] for s in subtypes], alpha=0.75, edgecolor="none")
        markers = [("response_month", "^", "#009E73", "First CR/PR"),
                   ("ipd_month", "X", "#D55E00", "Intracranial PD"),
                   ("death_month", "s", "#000000", "Death")]
        for col, marker, colour, label in markers:
            if col in data and data[col].notna().any():
                sel = data[col].notna()
                ax.scatter(data.loc[sel, col].astype(float), y[sel.to_numpy()], marker=marker,
                           s=14, color=colour, label=label, zorder=3)
        if data["ongoing"].fillna(False).astype(bool).any():
            sel = data["ongoing"].fillna(False).astype(bool).to_numpy()
            ax.scatter(data.loc[sel, "months"].astype(float) + 0.25, y[sel], marker=">",
                       s=12, color="#333333", label="Still on SG", zorder=3)
        for s, colour in palette.items():
            ax.barh([np.nan], [0], color=colour, alpha=0.75,
                    label="On SG" if s == "all" else f"On SG, {s}")
        ax.set_yticks([])
        ax.set_ylim(-1, len(data))
        ax.set_xlabel("Months since SG start")
        ax.set_ylabel(f"Patients (n = {len(data)})")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4)
        return to_svg(fig, figure_id)


# --------------------------------------------------------------------------- KM
@dataclass(frozen=True)
class SurvivalCurve:
    """One arm or group of a Kaplan–Meier plot; durations in months, events 1/0."""

    label: str
    durations: Sequence[float]
    events: Sequence[int]
    #: the fitted curve (``KMResult.table``: time, survival, lower, upper) when the analysis
    #: package already fitted it; drawn as is so the figure shows exactly the reported numbers
    table: pd.DataFrame | None = None


def at_risk(durations: Sequence[float], times: Sequence[float]) -> list[int]:
    """Numbers at risk at each time (still followed and event-free just before ``t``)."""
    d = np.asarray(durations, dtype=float)
    return [int((d >= t).sum()) for t in times]


def km_figure(curves: Sequence[SurvivalCurve], *, ylabel: str, figure_id: str,
              xlabel: str = "Months since SG start", step: float | None = None) -> Markup:
    """Kaplan–Meier curves with the log-log 95% band, censoring ticks and a numbers-at-risk
    table under the x axis. Each curve is drawn from its ``table`` (the analysis package's
    fit) or, without one, fitted with the analysis package's ``fit_km``."""
    curves = [c for c in curves if len(c.durations)]
    if not curves:
        return _empty(figure_id, "No patient in this analysis set yet.")
    tmax = max(float(np.max(c.durations)) for c in curves)
    step = step or _nice_step(tmax)
    ticks = np.arange(0, tmax + step * 0.999, step)
    with plt.rc_context(_RC):
        rows = len(curves)
        fig = plt.figure(figsize=(7.0, 3.3 + 0.2 * rows))
        ax = fig.add_axes((0.14, 0.20 + 0.045 * rows, 0.83, 0.72 - 0.045 * rows))
        for i, c in enumerate(curves):
            colour = OKABE_ITO[i % len(OKABE_ITO)]
            curve = c.table if c.table is not None else _fit(c)
            t = curve["time"].to_numpy(float)
            s = curve["survival"].to_numpy(float)
            ax.step(t, s, where="post", color=colour, lw=1.5,
                    label=f"{c.label} (n = {len(c.durations)}, events = {int(np.sum(c.events))})")
            ax.fill_between(t, curve["lower"].to_numpy(float), curve["upper"].to_numpy(float),
                            step="post", color=colour, alpha=0.15, lw=0)
            cens = np.asarray(c.durations, float)[np.asarray(c.events, int) == 0]
            if len(cens):
                at = np.searchsorted(t, cens, side="right") - 1
                ax.plot(cens, s[np.clip(at, 0, len(s) - 1)], "|", color=colour,
                        markersize=5, mew=0.9)
        ax.set_ylim(0, 1.03)
        ax.set_xlim(0, ticks[-1] if len(ticks) > 1 else tmax)
        ax.set_xticks(ticks)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "25", "50", "75", "100"])
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel)
        ax.axhline(0.5, color="#999999", lw=0.5, ls=":")
        ax.legend(loc="upper right")
        # numbers-at-risk table, one row per curve, aligned on the x ticks
        fig.text(0.01, 0.06 + 0.045 * rows, "Number at risk", fontsize=7.5, weight="bold")
        for i, c in enumerate(curves):
            yrow = 0.03 + 0.045 * (rows - 1 - i)
            fig.text(0.01, yrow, c.label[:18], fontsize=7.5,
                     color=OKABE_ITO[i % len(OKABE_ITO)])
            for t, n in zip(ticks, at_risk(c.durations, ticks), strict=True):
                xfig = ax.transData.transform((t, 0))[0]
                xfig = fig.transFigure.inverted().transform((xfig, 0))[0]
                fig.text(xfig, yrow, str(n), fontsize=7.5, ha="center")
        return to_svg(fig, figure_id)


def _fit(curve: SurvivalCurve) -> pd.DataFrame:
    """The analysis package's fit (R's band: NaN, not drawn, where Ŝ is 0 or 1)."""
    from sgbm_redcap.analysis import fit_km

    return fit_km(np.asarray(curve.durations, float), np.asarray(curve.events, int)).table


def _nice_step(tmax: float) -> float:
    for step in (1, 2, 3, 6, 12, 24):
        if tmax / step <= 10:
            return float(step)
    return 36.0


# --------------------------------------------------------------------------- competing risks
def cumulative_incidence_figure(curves: dict[str, pd.DataFrame], *,
                                figure_id: str = "cif", xmax: float | None = None) -> Markup:
    """Cumulative incidence curves of competing causes (e.g. intracranial PD and death
    without it). ``curves``: label → frame with ``time`` and ``cumulative_incidence`` (the
    analysis package's Aalen–Johansen estimate at every distinct time)."""
    curves = {k: v for k, v in curves.items() if v is not None and len(v)}
    if not curves:
        return _empty(figure_id, "No patient in this analysis set yet.")
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7.0, 3.0))
        colours = [OKABE_ITO[3], OKABE_ITO[7], OKABE_ITO[0]]
        for i, (label, frame) in enumerate(curves.items()):
            ax.step(frame["time"].to_numpy(float), frame["cumulative_incidence"].to_numpy(float),
                    where="post", color=colours[i % 3], lw=1.5, label=label)
        ax.set_ylim(0, 1)
        right = xmax or max(float(f["time"].max()) for f in curves.values())
        ax.set_xlim(0, max(right, 1))
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "25", "50", "75", "100"])
        ax.set_ylabel("Cumulative incidence (%)")
        ax.set_xlabel("Months since SG start")
        ax.legend(loc="upper left")
        return to_svg(fig, figure_id)


# --------------------------------------------------------------------------- forest
def forest_figure(rows: pd.DataFrame, *, xlabel: str, overall: float | None = None,
                  figure_id: str = "forest", xlim: tuple[float, float] | None = None) -> Markup:
    """Subgroup estimates with 95% CIs. ``rows``: ``label`` (indented with two spaces for a
    level under a heading), ``n``, ``estimate``, ``lower``, ``upper``, ``text`` (printed at
    the right), ``suppressed`` (bool: too few patients, shown greyed without a point)."""
    if rows.empty:
        return _empty(figure_id, "No subgroup can be estimated yet.")
    data = rows.reset_index(drop=True)
    height = 0.22 * len(data) + 1.0
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7.0, height))
        y = np.arange(len(data))[::-1]
        for yi, (_, r) in zip(y, data.iterrows(), strict=True):
            heading = pd.isna(r.get("estimate")) and not bool(r.get("suppressed", False))
            colour = "#AAAAAA" if bool(r.get("suppressed", False)) else "#000000"
            fig_text = str(r["label"])
            ax.text(-0.02, yi, fig_text, transform=ax.get_yaxis_transform(), ha="right",
                    va="center", fontsize=7.5, weight="bold" if heading else "normal",
                    color=colour)
            ax.text(1.02, yi, str(r.get("text", "")), transform=ax.get_yaxis_transform(),
                    ha="left", va="center", fontsize=7.5, color=colour)
            if pd.notna(r.get("estimate")) and not bool(r.get("suppressed", False)):
                ax.plot([r["lower"], r["upper"]], [yi, yi], color="#0072B2", lw=1.2)
                ax.plot(r["estimate"], yi, "s", color="#0072B2",
                        markersize=3 + 4 * min(1.0, float(r.get("n", 0)) / 50))
        if overall is not None and not math.isnan(overall):
            ax.axvline(overall, color="#D55E00", ls="--", lw=0.8)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_ylim(-0.8, len(data) - 0.2)
        if xlim:
            ax.set_xlim(*xlim)
        ax.set_xlabel(xlabel)
        fig.subplots_adjust(left=0.32, right=0.72)
        return to_svg(fig, figure_id)


def bar_figure(labels: Sequence[str], values: Sequence[float], *, xlabel: str,
               figure_id: str, colour: str = "#0072B2") -> Markup:
    """A horizontal bar chart (completeness by site, queries by site…)."""
    if not len(labels):
        return _empty(figure_id, "Nothing to show.")
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7.0, 0.25 * len(labels) + 0.9))
        y = np.arange(len(labels))[::-1]
        ax.barh(y, values, color=colour, height=0.65)
        ax.set_yticks(y, [str(v) for v in labels])
        ax.set_xlabel(xlabel)
        for yi, v in zip(y, values, strict=True):
            ax.text(v, yi, f" {v:g}", va="center", fontsize=7)
        return to_svg(fig, figure_id)
