"""Per-site query listings (CSV and HTML) for sites that prefer a list to REDCap's screens."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pandas as pd

from sgbm_redcap.queries.reconcile import STATUS_WORDS

LISTING_COLUMNS = ["dq_id", "record_id", "dq_form", "dq_instance", "dq_field", "dq_message",
                   "status", "dq_opened_date", "dq_site_response", "dq_note"]
HEADERS = {"dq_id": "Query", "record_id": "Record", "dq_form": "Instrument",
           "dq_instance": "Instance", "dq_field": "Field", "dq_message": "What to check",
           "status": "Status", "dq_opened_date": "Raised", "dq_site_response": "Site response",
           "dq_note": "Sweep note"}

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>SG-BM-RWS data queries: {{ site }}</title>
<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}
td,th{border:1px solid #999;padding:3px 6px;vertical-align:top}th{background:#eee}</style>
</head><body>
<h1>SG-BM-RWS data queries: {{ site }}</h1>
<p>{{ n_open }} queries need an answer ({{ as_of }}). Answer each one in REDCap, in the
record's <b>Data queries</b> instrument, and correct the data where needed; the next sweep
closes the queries whose problem is gone.</p>
<table><thead><tr>{% for h in headers %}<th>{{ h }}</th>{% endfor %}</tr></thead><tbody>
{% for row in rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}
</tbody></table></body></html>
"""


def site_queries(raw_or_existing: pd.DataFrame) -> pd.DataFrame:
    """The queries that need a site's attention (open, answered, reopened), with the site."""
    q = raw_or_existing
    if "redcap_repeat_instrument" in q.columns:
        dags = q.loc[q["redcap_repeat_instrument"].fillna("") == ""].drop_duplicates(
            "record_id").set_index("record_id").get("redcap_data_access_group")
        q = q.loc[q["redcap_repeat_instrument"] == "data_queries"].copy()
        q["dag"] = q["record_id"].map(dags).fillna("") if dags is not None else ""
    q = q.copy()
    for c in LISTING_COLUMNS:
        if c not in q.columns and c != "status":
            q[c] = ""
    q["status"] = q["dq_status"].map(STATUS_WORDS).fillna("")
    q = q.loc[q["dq_status"].isin(["1", "2", "4"])]
    return q.sort_values(["dag", "record_id", "dq_id"]).reset_index(drop=True)


def write_listings(raw_or_existing: pd.DataFrame, out_dir: str | Path, *, as_of: str
                   ) -> list[Path]:
    """One CSV and one HTML file per site (DAG) under ``out_dir``; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    q = site_queries(raw_or_existing)
    env = jinja2.Environment(autoescape=True)
    template = env.from_string(_TEMPLATE)
    paths = []
    for dag, part in q.groupby("dag", sort=True):
        name = re.sub(r"[^a-z0-9_-]", "_", str(dag).lower()) or "no_site"
        table = part[LISTING_COLUMNS].fillna("").astype(str)
        csv_path = out / f"queries_{name}.csv"
        table.rename(columns=HEADERS).to_csv(csv_path, index=False)
        html_path = out / f"queries_{name}.html"
        html_path.write_text(template.render(
            site=dag or "no site", as_of=as_of, n_open=len(table),
            headers=[HEADERS[c] for c in LISTING_COLUMNS],
            rows=table.itertuples(index=False, name=None)), encoding="utf-8")
        paths += [csv_path, html_path]
    return paths
