"""The monthly report's query-ageing section (issue 14): open queries by site and by how
long they have been open at the cut-off. The numbers are
:func:`sgbm_redcap.monitoring.query_ageing`, the same function the monitoring dashboard
uses; this module only lays them out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import pandas as pd
from markupsafe import Markup

from sgbm_redcap.monitoring import BUCKET_LABELS, Ageing, query_ageing, study_sites
from sgbm_redcap.queries.reconcile import normalise_existing
from sgbm_redcap.reports.contexts import Figure, Paragraph, Section, Table
from sgbm_redcap.reports.figures import OKABE_ITO, _figure, to_svg

NOT_YET_ACTIVE = "not yet active"
#: bucket colours, young to old (Okabe–Ito: blue, sky, orange, vermillion)
BUCKET_COLOURS = [OKABE_ITO[0], OKABE_ITO[5], OKABE_ITO[1], OKABE_ITO[3]]


def ageing_table(ageing: Ageing, *, id: str = "query-ageing",
                 caption: str = "Table 10. Open data queries by site and time open at the "
                 "cut-off") -> Table:
    rows = []
    for values in ageing.table.to_dict("records"):
        if not values["active"]:
            rows.append([values["label"], "0", NOT_YET_ACTIVE,
                         *[""] * len(BUCKET_LABELS)])
            continue
        rows.append([values["label"], str(values["patients"]),
                     *[str(int(values[b])) for b in BUCKET_LABELS],
                     str(values["open"]), str(values["answered"])])
    t = ageing.total
    rows.append(["All sites", str(int(ageing.table["patients"].sum())),
                 *[str(t[b]) for b in BUCKET_LABELS], str(t["open"]), str(t["answered"])])
    return Table(id, caption, ["Site", "Patients", *[f"Open {b}" for b in BUCKET_LABELS],
                               "Open, total", "Answered"], rows, wide=True,
                 footnote="A query is open at the cut-off when it was raised on or before it "
                 "and had not been answered or closed by then (a re-opened query counts as "
                 "open); its age is the cut-off minus the date it was raised. Answered "
                 "queries (answered by the site, awaiting review) wait for the next sweep to close or "
                 "re-open them.")


def ageing_figure(ageing: Ageing, *, figure_id: str = "query-ageing") -> Markup:
    """Open queries per active site as horizontal bars stacked by age bucket."""
    table = ageing.table[ageing.table["active"]]
    # short bars: drawn the page's width, taller bars pushed the figure onto a page of its own
    fig, ax = _figure(6.5, 0.28 * max(len(table), 1) + 0.9)
    left = pd.Series(0.0, index=table.index)
    for label, colour in zip(BUCKET_LABELS, BUCKET_COLOURS, strict=True):
        ax.barh(list(table["label"]), table[label], left=left, color=colour, label=label,
                height=0.6)
        left = left + table[label]
    ax.invert_yaxis()
    ax.set_xlabel("Open queries")
    ax.legend(ncol=len(BUCKET_LABELS), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return to_svg(fig, figure_id)


def query_ageing_section(raw: pd.DataFrame, dags: Iterable[tuple[str, str]], *,
                         cutoff: date, record_id: str = "record_id") -> Section:
    """The section from a flat raw export holding the ``data_queries`` instrument."""
    ageing = query_ageing(normalise_existing(raw, record_id), study_sites(raw, dags,
                                                                           record_id=record_id),
                          ref=cutoff)
    blocks: list[Any] = [ageing_table(ageing)]
    if ageing.total["open"]:
        blocks.append(Figure("fig-query-ageing", "Figure 10. Open queries by site and age at "
                             "the cut-off", ageing_figure(ageing)))
    else:
        blocks.append(Paragraph("No data query was open at the cut-off.", "note"))
    return Section("query-ageing", "Query ageing", blocks, page_break=False)


def add_query_ageing(sections: list[Section], raw: pd.DataFrame,
                     dags: Iterable[tuple[str, str]], *, cutoff: date) -> None:
    """Put the query-ageing section into the report's data-quality section (as its last
    sub-section), or after the last section when the report has none."""
    part = query_ageing_section(raw, dags, cutoff=cutoff)
    for s in sections:
        if s.id == "data-quality":
            s.subsections.append(part)
            return
    sections.append(part)
