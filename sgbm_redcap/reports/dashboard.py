"""The central-monitoring dashboard (issue 17): one self-contained HTML page,
``monitoring_<date>.html`` (and its PDF for the monthly pack), laid out from
:func:`~sgbm_redcap.monitoring.kris.compute_kris`, :func:`~sgbm_redcap.monitoring.limits.assess`
and :func:`~sgbm_redcap.monitoring.audit.audit_review`.

Everything is inline (CSS, SVG, a small script, the drill-down data as JSON in a
``<script type="application/json">`` element encoded by :func:`script_json`), so it opens
from disk with no server or network. Every value from data entry goes through the Jinja
environment's autoescape or, in the JSON, through :func:`script_json`; the page shows record
ids, never an identifier field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from sgbm_redcap.monitoring.audit import Finding
from sgbm_redcap.monitoring.catalogue import KRIS
from sgbm_redcap.monitoring.kris import ALL, KriResult
from sgbm_redcap.monitoring.limits import LABELS, Assessment, Flag
from sgbm_redcap.reports.dashboard_figures import funnel_figure, sparkline
from sgbm_redcap.reports.env import render
from sgbm_redcap.reports.pdf import write_html_pdf
from sgbm_redcap.reports.query_ageing import ageing_figure, ageing_table
from sgbm_redcap.study_codes import QueryStatus

TEMPLATE = "monitoring.html.j2"
#: queries listed per site in the drill-down
QUERY_COLUMNS = ["record_id", "dq_form", "dq_instance", "dq_field", "dq_status",
                 "dq_opened_date", "dq_answered_date", "dq_closed_date", "dq_message",
                 "dq_site_response"]
STATUS_WORDS = {QueryStatus.OPEN.value: "open", QueryStatus.ANSWERED.value: "answered",
                QueryStatus.CLOSED.value: "closed", QueryStatus.REOPENED.value: "re-opened"}


def script_json(data: Any) -> Markup:
    """``data`` as JSON safe inside a ``<script>`` element: ``<``, ``>``, ``&`` and the two
    JavaScript line separators become ``\\uXXXX`` escapes, so no text can close the
    element or open a comment; ``JSON.parse`` gives the original strings back."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    for ch in ("<", ">", "&", "\u2028", "\u2029"):
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return Markup(text)  # noqa: S704 - escaped above


@dataclass
class Cell:
    status: str
    label: str
    value: str
    sort: float
    detail: str
    spark: Markup | None = None


@dataclass
class Dashboard:
    title: str
    ref: date
    generated: str
    data_source: str
    kris: list[Any]
    rows: list[dict[str, Any]]
    not_computed: list[str]
    flags: list[Flag]
    ageing_table: Any
    ageing_svg: Markup | None
    funnels: list[tuple[str, Markup]]
    findings: list[Finding]
    audit_note: str
    queries: dict[str, list[dict[str, str]]]
    data_json: Markup
    labels: dict[str, str] = field(default_factory=dict)
    running_header: str = ""


def _num(x: float) -> float:
    return -1.0 if x is None or math.isnan(x) else float(x)


def _queries(queries: pd.DataFrame, result: KriResult, *,
             closed: bool = False) -> dict[str, list[dict[str, str]]]:
    """Per site, the queries not closed (open, answered, re-opened; with ``closed`` all of
    them), oldest first."""
    q = (queries if closed else queries[queries["dq_status"].astype(str)
                                        != QueryStatus.CLOSED.value]).copy()
    q["site"] = result.sites.map(q["record_id"])
    out: dict[str, list[dict[str, str]]] = {}
    for site, part in q.sort_values("dq_opened_date").groupby("site", sort=False):
        out[str(site)] = [{c: str(r.get(c, "")) for c in QUERY_COLUMNS} | {
            "status": STATUS_WORDS.get(str(r.get("dq_status", "")), "")}
            for r in part.to_dict("records")]
    return out


def build_dashboard(result: KriResult, assessment: Assessment, queries: pd.DataFrame, *,
                    findings: list[Finding] | None, title: str, data_source: str = "",
                    generated: datetime | None = None) -> Dashboard:
    """The page's context from the indicators, their assessment, the queries
    (EXISTING_COLUMNS) and the audit findings (None: the log could not be read)."""
    sites = result.sites
    series = result.series
    labels = {s: sites.label(s) for s in sites.order} | {ALL: "All sites"}
    rows = []
    for site in [*sites.order, ALL]:
        cells = {}
        for kri in KRIS:
            status = assessment.status[kri.id][site]
            value = result.value(kri.id, site)
            spark = None
            mine = series[(series["kri"] == kri.id) & (series["site"] == site)]
            if len(mine):
                spark = sparkline(list(mine["value"]), label=f"{kri.title}, "
                                  f"{labels[site]}, monthly")
            cells[kri.id] = Cell(status, LABELS[status],
                                 kri.text(value.value) if value is not None else "–",
                                 _num(value.value) if value is not None else -1.0,
                                 value.detail if value is not None else "", spark)
        rows.append({"site": site, "label": labels[site], "patients": len(sites.of_record)
                     if site == ALL else sites.patients(site),
                     "status": assessment.site_status(site) if site != ALL else "",
                     "cells": cells})
    records = {f"{site}|{kri}": {"title": f"{BY[kri]} — {labels[site]}",
                                 "detail": v.detail, "records": v.records}
               for kri, by_site in result.values.items() for site, v in by_site.items()}
    q = _queries(queries, result)
    funnels = [(name, funnel_figure(result.funnel[kri], result.pooled.get(kri, math.nan),
                                    title=f"{name} per patient-month", figure_id=f"f-{kri}",
                                    labels=labels))
               for kri, name in (("ae_rate", "AEs"), ("sae_rate", "SAEs"))
               if kri in result.funnel]
    not_computed = [f"{BY[k]}: not computed — {why}." for k, why in result.not_computed.items()]
    return Dashboard(
        title, result.ref, (generated or datetime.now()).strftime("%Y-%m-%d %H:%M"),
        data_source, list(KRIS), rows, not_computed, assessment.flags,
        ageing_table(result.ageing, caption="Open data queries by site and time open"),
        ageing_figure(result.ageing, figure_id="dash-ageing")
        if result.ageing.total["open"] else None, funnels, findings or [],
        "" if findings is not None else "Audit-trail review: not computed — it needs the "
        "project log (export_logging), which this REDCap user may not export.",
        q, script_json({"cells": records, "labels": labels,
                        "queries": _queries(queries, result, closed=True)}), labels,
        f"{title} — {result.ref}")


BY = {k.id: k.title for k in KRIS}


def write_dashboard(dashboard: Dashboard, out_dir: Path | str, *,
                    pdf: bool = True) -> list[Path]:
    """``<out_dir>/monitoring_<date>.html`` (+ ``.pdf``); returns the paths written."""
    html = render(TEMPLATE, dashboard)
    return write_html_pdf(html, Path(out_dir) / f"monitoring_{dashboard.ref}", pdf=pdf)


__all__ = ["Dashboard", "build_dashboard", "script_json", "write_dashboard"]
