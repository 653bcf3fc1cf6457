"""Per-site query listings for sites that prefer a list to REDCap's screens.

This module is the one place that decides which queries a site sees and in which order: the
sweep's listings (CSV, and HTML through a renderer it is given) and the reports' site
listings (``sgbm_redcap.reports.quality.site_listing``) both take their rows from
:func:`site_queries`. The HTML itself is the reports' Jinja template: a renderer is passed
in, so this package never imports the reports package.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sgbm_redcap.dictionary.model import record_sort_key
from sgbm_redcap.queries.messages import message_in
from sgbm_redcap.queries.reconcile import ANSWERED, OPEN, REOPENED, STATUS_WORDS

LISTING_COLUMNS = ["dq_id", "record_id", "dq_form", "dq_instance", "dq_field", "dq_message",
                   "status", "dq_opened_date", "dq_site_response", "dq_note"]
HEADERS = {"dq_id": "Query", "record_id": "Record", "dq_form": "Instrument",
           "dq_instance": "Instance", "dq_field": "Field", "dq_message": "What to check",
           "status": "Status", "dq_opened_date": "Raised", "dq_site_response": "Site response",
           "dq_note": "Sweep note"}
#: the same headings and status words for a Chinese-language site (the status words are the
#: dq_status choices of the CRF's zh-CN translation; a test keeps them equal)
HEADERS_ZH = {"dq_id": "质疑编号", "record_id": "记录", "dq_form": "表单", "dq_instance": "实例",
              "dq_field": "字段", "dq_message": "需核查的内容", "status": "状态",
              "dq_opened_date": "发出日期", "dq_site_response": "中心回复", "dq_note": "程序备注"}
STATUS_ZH = {"open": "待处理", "answered": "已回复", "closed": "已关闭", "reopened": "已重开"}
#: statuses that need a site's attention (open, answered, reopened)
NEEDS_ATTENTION = (OPEN, ANSWERED, REOPENED)
#: other ``data_queries`` fields a listing may show, blank when the input lacks them
_OPTIONAL = ("dq_rule", "dq_severity", "dq_answered_date", "dq_closed_date")


@dataclass(frozen=True)
class SiteQueries:
    """One site's listing: its DAG, the file stem, its rows (:func:`site_queries` columns)
    and how many of its queries are closed (not listed, counted)."""

    dag: str
    stem: str
    queries: pd.DataFrame
    closed: int = 0


#: ``(site, as_of) -> HTML``: how a caller turns a site's rows into a page.
HtmlRenderer = Callable[[SiteQueries, str], str]


def site_queries(raw_or_existing: pd.DataFrame,
                 statuses: Iterable[str] | None = NEEDS_ATTENTION) -> pd.DataFrame:
    """The queries with the given ``dq_status`` codes (default: those that need a site's
    attention; None: all), with ``dag`` and the ``status`` word, by site, record and id.

    Input: a flat raw export (the ``data_queries`` instances are taken from it, the site from
    the record's non-repeating row) or a normalised existing-queries frame with ``dag``."""
    q = raw_or_existing
    if "redcap_repeat_instrument" in q.columns:
        dags = q.loc[q["redcap_repeat_instrument"].fillna("") == ""].drop_duplicates(
            "record_id").set_index("record_id").get("redcap_data_access_group")
        q = q.loc[q["redcap_repeat_instrument"] == "data_queries"].copy()
        q["dag"] = q["record_id"].map(dags).fillna("") if dags is not None else ""
    q = q.copy()
    for c in (*LISTING_COLUMNS, *_OPTIONAL, "dq_status", "dag"):
        if c not in q.columns and c != "status":
            q[c] = ""
    q["status"] = q["dq_status"].map(STATUS_WORDS).fillna("")
    if statuses is not None:
        q = q.loc[q["dq_status"].isin(list(statuses))]
    by_record = {"key": lambda c: c.map(record_sort_key) if c.name == "record_id" else c}
    return q.sort_values(["dag", "record_id", "dq_id"], **by_record).reset_index(drop=True)


def listing_stem(dag: str) -> str:
    """``queries_<dag>``, safe as a file name."""
    return "queries_" + (re.sub(r"[^a-z0-9_-]", "_", str(dag).lower()) or "no_site")


def _site(every: pd.DataFrame, dag: str) -> SiteQueries:
    mine = every.loc[every["dag"] == dag]
    return SiteQueries(str(dag), listing_stem(dag),
                       mine.loc[mine["dq_status"].isin(NEEDS_ATTENTION)].reset_index(drop=True),
                       int((mine["status"] == "closed").sum()))


def site_listing_rows(raw_or_existing: pd.DataFrame, dag: str) -> SiteQueries:
    """One site's :class:`SiteQueries` (empty when it has no query that needs attention)."""
    return _site(site_queries(raw_or_existing, statuses=None), dag)


def by_site(raw_or_existing: pd.DataFrame) -> list[SiteQueries]:
    """One :class:`SiteQueries` per site with queries that need attention, by DAG name."""
    every = site_queries(raw_or_existing, statuses=None)
    listed = every.loc[every["dq_status"].isin(NEEDS_ATTENTION), "dag"]
    return [_site(every, dag) for dag in sorted(set(listed))]


def csv_table(site: SiteQueries, language: str = "en") -> pd.DataFrame:
    """A site's listing as the CSV shows it, in the site's language (headings, status words,
    the site's part of a bilingual message)."""
    table = site.queries[LISTING_COLUMNS].fillna("").astype(str)
    if not language.lower().startswith("zh"):
        table["dq_message"] = table["dq_message"].map(lambda m: message_in(m, "en"))
        return table.rename(columns=HEADERS)
    table["dq_message"] = table["dq_message"].map(lambda m: message_in(m, language))
    table["status"] = table["status"].map(STATUS_ZH).fillna(table["status"])
    return table.rename(columns=HEADERS_ZH)


def write_listings(raw_or_existing: pd.DataFrame, out_dir: str | Path, *, as_of: str,
                   render_html: HtmlRenderer | None = None,
                   language_of: Callable[[str], str] | None = None) -> list[Path]:
    """One CSV per site (DAG) under ``out_dir``, and one HTML page per site when a renderer
    is given; returns the paths. ``language_of`` (DAG → language) sets each CSV's language."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for site in by_site(raw_or_existing):
        table = csv_table(site, language_of(site.dag) if language_of else "en")
        csv_path = out / f"{site.stem}.csv"
        # UTF-8 with a BOM: Excel on Windows then reads Chinese text as UTF-8, not ANSI
        table.to_csv(csv_path, index=False, encoding="utf-8-sig")
        paths.append(csv_path)
        if render_html is not None:
            html_path = out / f"{site.stem}.html"
            html_path.write_text(render_html(site, as_of), encoding="utf-8")
            paths.append(html_path)
    return paths
