"""The data-quality report and the per-site query listings.

Inputs are plain: the flat raw export (``StudyTables.raw``), its dictionary, the findings
frame of :func:`sgbm_redcap.checks.run_checks` and, inside the raw export, the repeating
``data_queries`` instrument the sweep writes (CONTRACTS §3). Nothing here talks to REDCap.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import pandas as pd

from sgbm_redcap.dictionary.project import StudyProject, study_project
from sgbm_redcap.errors import LogicError
from sgbm_redcap.logic.context import form_context
from sgbm_redcap.logic.refs import referenced_fields
from sgbm_redcap.queries.listings import SiteQueries, site_listing_rows
from sgbm_redcap.reports.contexts import (
    Cover,
    KeyFigure,
    KeyFigures,
    Paragraph,
    ReportContext,
    Section,
    Table,
    study_cover,
)
from sgbm_redcap.reports.env import render
from sgbm_redcap.reports.formatting import DASH, cell, num
from sgbm_redcap.reports.redaction import identifier_fields, is_identifier_column
from sgbm_redcap.study_codes import QuerySeverity, QueryStatus

log = logging.getLogger(__name__)

_QUERY_FIELDS = ("dq_id", "dq_rule", "dq_severity", "dq_form", "dq_instance", "dq_field",
                 "dq_message", "dq_status", "dq_opened_date", "dq_site_response",
                 "dq_answered_date", "dq_closed_date", "dq_note")
QUERY_STATUS = {status.value: status.label for status in QueryStatus}
#: dq_severity code → the checks' severity word
SEVERITY = {QuerySeverity.ERROR.value: "error", QuerySeverity.WARNING.value: "warning"}
_INSTRUMENT = "redcap_repeat_instrument"
_INSTANCE = "redcap_repeat_instance"
_DAG = "redcap_data_access_group"
IDENTIFIER_HIDDEN = "(identifier, not shown)"


# --------------------------------------------------------------------------- inputs
def query_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """The ``data_queries`` instances of a flat raw export, with readable status and dates."""
    if _INSTRUMENT not in raw.columns or "dq_id" not in raw.columns:
        return pd.DataFrame(columns=["record_id", "dag", "dq_id", "dq_rule", "dq_form",
                                     "dq_instance", "dq_field", "dq_message", "status",
                                     "severity", "opened", "answered", "closed",
                                     "dq_site_response", "dq_note"])
    q = raw[raw[_INSTRUMENT] == "data_queries"].copy()
    for column in _QUERY_FIELDS:  # an older dictionary may lack some of them
        if column not in q.columns:
            q[column] = ""
    dags = raw.drop_duplicates("record_id").set_index("record_id").get(_DAG)
    q["dag"] = q["record_id"].map(dags) if dags is not None else ""
    q["status"] = q["dq_status"].map(QUERY_STATUS).fillna("Unknown")
    q["severity"] = q["dq_severity"].map(SEVERITY).fillna("")
    for src, dst in (("dq_opened_date", "opened"), ("dq_answered_date", "answered"),
                     ("dq_closed_date", "closed")):
        q[dst] = pd.to_datetime(q[src].replace("", None), errors="coerce")
    return q.reset_index(drop=True)


def site_labels(raw: pd.DataFrame, dags: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """DAG unique name → label (from project.toml's ``[[dags]]``; the name itself otherwise)."""
    labels = dict(dags)
    if _DAG in raw.columns:
        for name in raw[_DAG].dropna().unique():
            labels.setdefault(str(name), str(name) or "No site")
    return labels


# --------------------------------------------------------------------------- query metrics
@dataclass(frozen=True)
class QueryMetrics:
    opened_in_period: int
    answered_in_period: int
    closed_in_period: int
    open_now: int
    answered_now: int
    median_days_to_close: float


def query_metrics(q: pd.DataFrame, *, cutoff: date, period_days: int = 31) -> QueryMetrics:
    """Counts for the month before ``cutoff`` and the state at ``cutoff``."""
    end = pd.Timestamp(cutoff)
    start = end - pd.Timedelta(days=period_days)

    def within(col: str) -> int:
        return int(((q[col] > start) & (q[col] <= end)).sum()) if len(q) else 0

    closed = q.dropna(subset=["closed", "opened"]) if len(q) else q
    days = (closed["closed"] - closed["opened"]).dt.days if len(closed) else pd.Series([])
    return QueryMetrics(
        opened_in_period=within("opened"),
        answered_in_period=within("answered"),
        closed_in_period=within("closed"),
        open_now=int(q["status"].isin(["Open", "Reopened"]).sum()) if len(q) else 0,
        answered_now=int((q["status"] == "Answered").sum()) if len(q) else 0,
        median_days_to_close=float(days.median()) if len(days) else float("nan"),
    )


def queries_by(q: pd.DataFrame, key: str, labels: dict[str, str] | None = None,
               *, caption: str, id: str) -> Table:
    """Queries per site or per instrument: total, open (incl. reopened), answered, closed,
    median days open → closed."""
    rows = []
    if len(q):
        for name, g in q.groupby(key, sort=True):
            closed = g.dropna(subset=["closed", "opened"])
            med = (closed["closed"] - closed["opened"]).dt.days.median() if len(closed) else None
            rows.append([
                (labels or {}).get(str(name), str(name)) or "No site", str(len(g)),
                str(int(g["status"].isin(["Open", "Reopened"]).sum())),
                str(int((g["status"] == "Answered").sum())),
                str(int((g["status"] == "Closed").sum())),
                num(med, 0) if med is not None else DASH,
            ])
    first = "Site" if key == "dag" else "Instrument"
    return Table(id=id, caption=caption,
                 columns=[first, "Raised", "Open", "Answered", "Closed", "Median days to close"],
                 rows=rows, empty_message="No data query has been raised.")


# --------------------------------------------------------------------------- completeness
def _shown(rows: pd.DataFrame, logic: str, dictionary: Any) -> pd.Series | None:
    """Where a field is shown (branching logic true); None when it cannot be evaluated."""
    if not logic:
        return pd.Series(True, index=rows.index)
    try:
        from sgbm_redcap.logic import evaluate, parse

        return evaluate(parse(logic), rows, dictionary=dictionary).fillna(False).astype(bool)
    except Exception as exc:  # noqa: BLE001 - logic support may be partial; say so, go on
        log.debug("branching logic %r not evaluated: %s", logic, exc)
        return None


def _form_rows(raw: pd.DataFrame, dictionary: Any, form: str, repeating: bool,
               fields: list[Any]) -> pd.DataFrame:
    """The rows a form's fields live on, with the record's other values visible to logic
    (only the columns the fields and their branching logic need: filling all 200 columns
    of every instance row is what makes this slow)."""
    instr = raw[_INSTRUMENT].fillna("") if _INSTRUMENT in raw.columns else pd.Series(
        "", index=raw.index)
    if not repeating:
        return raw[instr == ""]
    wanted = {f.name for f in fields}
    for f in fields:
        try:
            wanted.update(referenced_fields(f.branching_logic or "") if
                          (f.branching_logic or "").strip() else ())
        except LogicError:
            pass  # not evaluated either: the field counts as shown
    columns = set()
    for name in wanted:
        target = dictionary.get(name)
        columns.update(target.export_columns() if target is not None else [name])
    keep = [c for c in raw.columns if c in columns
            or c.startswith("redcap_") or c == dictionary.record_id]
    return form_context(raw[keep], dictionary, form)


#: Instruments the toolkit itself writes (the query log), not part of the CRF.
NOT_CRF = frozenset({"data_queries"})


def expected_records(raw: pd.DataFrame, dictionary: Any, logic: str) -> set[str] | None:
    """The records a form is expected for: those whose record-level values (the base row)
    satisfy ``logic`` (``project.toml``'s ``[expected_forms]``). None when the logic cannot
    be evaluated (the form is then expected for every record)."""
    rid = dictionary.record_id
    instr = raw[_INSTRUMENT].fillna("") if _INSTRUMENT in raw.columns else pd.Series(
        "", index=raw.index)
    base = raw[instr == ""]
    shown = _shown(base, logic, dictionary)
    return None if shown is None else set(base.loc[shown.to_numpy(), rid])


def completeness(raw: pd.DataFrame, dictionary: Any, repeating_forms: Any = (), *,
                 expected: Mapping[str, str] | None = None,
                 not_yet: pd.DataFrame | None = None) -> tuple[pd.DataFrame, int]:
    """Required-field completeness: one row per (site, form) with ``expected`` and
    ``filled`` answers. A required field is expected where the protocol expects its form
    (``expected``: form → logic on the record, ``StudyProject.expected_forms``; a form not
    in it is expected for every record) and its branching logic shows it; one answer per
    record for a form that occurs once, one per instance for a repeating form. Give it the
    export as known at the cut-off (:func:`sgbm_redcap.source.asof.as_of`) and its
    ``not_yet`` dates (dated after the cut-off: not expected yet). Returns the
    frame and the number of required fields whose branching logic could not be evaluated
    (left out)."""
    repeating = set(repeating_forms)
    if _INSTRUMENT in raw:
        repeating |= set(raw[_INSTRUMENT].replace("", None).dropna())
    rid = dictionary.record_id
    parts: list[pd.DataFrame] = []
    skipped = 0
    for form in dictionary.forms:
        if form in NOT_CRF:
            continue
        fields = [f for f in dictionary.form_fields(form) if f.required and f.name in raw
                  and f.field_type not in {"descriptive", "checkbox", "calc"}]
        if not fields:
            continue
        rows = _form_rows(raw, dictionary, form, form in repeating, fields)
        if form in repeating:
            instr = rows[_INSTRUMENT].fillna("") if _INSTRUMENT in rows else ""
            rows = rows[instr == form]
        condition = (expected or {}).get(form, "")
        if condition and not rows.empty:
            whom = expected_records(raw, dictionary, condition)
            if whom is None:
                log.warning("expected_forms logic of %s not evaluated: the form counts as "
                            "expected for every record", form)
            else:
                rows = rows[rows[rid].isin(whom)]
        if rows.empty:
            continue
        dag = rows[_DAG] if _DAG in rows.columns else pd.Series("", index=rows.index)
        keys = _row_keys(rows, rid)
        for f in fields:
            shown = _shown(rows, f.branching_logic or "", dictionary)
            if shown is None:
                skipped += 1
                continue
            if not_yet is not None and len(not_yet):
                later = not_yet[not_yet["field"] == f.name]
                if len(later):
                    shown = shown & ~keys.isin(set(zip(later["record_id"].astype(str),
                                                       later["instance"].astype(int),
                                                       strict=True)))
            filled = shown & (rows[f.name].fillna("").astype(str) != "")
            parts.append(pd.DataFrame({"dag": dag.to_numpy(), "form": form,
                                       "expected": shown.to_numpy(),
                                       "filled": filled.to_numpy()}))
    if not parts:
        return pd.DataFrame(columns=["dag", "form", "expected", "filled"]), skipped
    out = pd.concat(parts).groupby(["dag", "form"], sort=False)[["expected", "filled"]].sum()
    return out.reset_index(), skipped


def _row_keys(rows: pd.DataFrame, rid: str) -> pd.Series:
    """(record id, instance) of each row, instance 0 on a record's base row."""
    inst = (pd.to_numeric(rows[_INSTANCE], errors="coerce").fillna(0).astype(int)
            if _INSTANCE in rows.columns else pd.Series(0, index=rows.index))
    return pd.Series(list(zip(rows[rid].astype(str), inst, strict=True)), index=rows.index,
                     dtype=object)


def completeness_table(comp: pd.DataFrame, key: str, labels: dict[str, str], *, id: str,
                       caption: str, footnote: str = "") -> Table:
    """Expected, filled and missing required answers per ``key`` ("dag" or "form");
    ``labels``: what readers call each key value (site labels, or instrument titles as
    REDCap shows them). "Complete" never rounds a gap up to 100.0% (one blank in 4,000
    answers reads 99.9%, with its count in "Missing")."""
    grouped = comp.groupby(key, sort=key == "dag")[["expected", "filled"]].sum().reset_index()
    rows = [[labels.get(str(r[key]), str(r[key])),
             str(int(r["expected"])), str(int(r["filled"])),
             str(int(r["expected"] - r["filled"])), complete_pct(r["filled"], r["expected"])]
            for _, r in grouped.iterrows()]
    return Table(id=id, caption=caption,
                 columns=["Site" if key == "dag" else "Instrument", "Required answers expected",
                          "Filled", "Missing", "Complete"], rows=rows, footnote=footnote)


def complete_pct(filled: float, expected: float) -> str:
    """``filled / expected`` as a percentage rounded down: 100.0% only when nothing is
    missing."""
    if not expected:
        return DASH
    tenths = int(1000 * filled // expected)
    return f"{tenths / 10:.1f}%"


def instrument_titles(dictionary: Any, project: StudyProject | None = None) -> dict[str, str]:
    """form name → the instrument title REDCap shows (``project``'s instrument labels, else
    REDCap's default title of the form name)."""
    from sgbm_redcap.dictionary.translation import form_labels

    return form_labels(dictionary, project.instrument_labels if project is not None else None)


def missing_by_reason(reasons: pd.DataFrame | None, dictionary: Any, *,
                      titles: Mapping[str, str] | None = None,
                      id: str = "missing-by-reason",
                      caption: str = "Values entered as a missing data code, by reason") -> Table:
    """The values a site entered as one of the project's missing data codes
    (``StudyTables.missing_reasons``), one row per field in dictionary order: how many, and
    how many for each reason ("Not done 27, Unknown 2"). Only counts: no value is shown.
    ``titles``: instrument titles as REDCap shows them (:func:`instrument_titles`)."""
    rows: list[list[str]] = []
    if reasons is not None and len(reasons):
        order = {name: i for i, name in enumerate(getattr(dictionary, "field_names",
                                                          lambda: [])())}
        by_field = reasons.groupby(["form", "field"], sort=False)
        for (form, name), part in sorted(by_field, key=lambda g: order.get(g[0][1], 1 << 30)):
            f = dictionary.get(name) if hasattr(dictionary, "get") else None
            label = _plain_label(f.label if f is not None else "") or str(name)
            counts = part.groupby("reason", sort=False).size().sort_values(
                ascending=False, kind="stable")
            rows.append([(titles or {}).get(str(form), str(form)), label, str(len(part)),
                         ", ".join(f"{reason} {n}" for reason, n in counts.items())])
    return Table(id=id, caption=caption,
                 columns=["Instrument", "Field", "Coded values", "By reason"], rows=rows,
                 text_columns=2, empty_message="No value was entered as a missing data code.",
                 footnote="A site enters one of the project's missing data codes (such as "
                          "ND, not done) instead of a value it cannot know. A coded "
                          "required field counts as filled above; the analyses read it as "
                          "missing, with its reason.")


def _plain_label(text: str) -> str:
    """A field label without its HTML tags, shortened to 80 characters."""
    plain = " ".join(re.sub(r"<[^>]+>", " ", text or "").split())
    return plain if len(plain) <= 80 else plain[:77] + "..."


# --------------------------------------------------------------------------- findings
def rule_titles() -> dict[str, str]:
    """rule id → title, from the checks registry."""
    from sgbm_redcap.checks import REGISTRY

    return {rule.rule_id: rule.title for rule in REGISTRY}


def findings_by_rule(findings: pd.DataFrame, titles: dict[str, str] | None = None) -> Table:
    titles = rule_titles() if titles is None else titles
    rows = []
    if len(findings):
        g = findings.groupby(["rule_id", "severity"], sort=True)
        for (rule, severity), part in g:
            rows.append([str(rule), (titles or {}).get(str(rule), ""), str(severity),
                         str(len(part)), str(part["record_id"].nunique())])
        rows.sort(key=lambda r: (-int(r[3]), r[0]))
    return Table(id="findings-by-rule", caption="Findings by check rule",
                 columns=["Rule", "What it checks", "Severity", "Findings", "Patients"],
                 rows=rows, text_columns=3, empty_message="No finding.")


def findings_by_site(findings: pd.DataFrame, labels: dict[str, str]) -> Table:
    rows = []
    if len(findings):
        for dag, part in findings.groupby("dag", sort=True):
            rows.append([labels.get(str(dag), str(dag)) or "No site",
                         str(int((part["severity"] == "error").sum())),
                         str(int((part["severity"] == "warning").sum())),
                         str(part["record_id"].nunique())])
    return Table(id="findings-by-site", caption="Findings by site",
                 columns=["Site", "Errors", "Warnings", "Patients with a finding"], rows=rows,
                 empty_message="No finding.")


# --------------------------------------------------------------------------- report
def build_quality_context(raw: pd.DataFrame, dictionary: Any, findings: pd.DataFrame, *,
                          cover: Cover, dags: Iterable[tuple[str, str]] = (),
                          rule_titles: dict[str, str] | None = None,
                          type_problems: pd.DataFrame | None = None,
                          repeating_forms: Any = (),
                          project: StudyProject | None = None,
                          not_yet: pd.DataFrame | None = None,
                          missing_reasons: pd.DataFrame | None = None) -> ReportContext:
    """The data-quality report: checks, queries, completeness, values of the wrong type,
    and one page per site in the site's language (``project``'s DAG languages). ``raw`` and
    ``not_yet``: the export as known at the cut-off (``StudyTables.raw`` and ``.not_yet`` of
    :func:`sgbm_redcap.source.asof.as_of`)."""
    labels = site_labels(raw, dags)
    q = query_frame(raw)
    m = query_metrics(q, cutoff=cover.cutoff_date)
    n_err = int((findings["severity"] == "error").sum()) if len(findings) else 0
    n_warn = int((findings["severity"] == "warning").sum()) if len(findings) else 0
    summary = KeyFigures("quality-key", [
        KeyFigure("Findings (errors / warnings)", f"{n_err} / {n_warn}",
                  f"in {findings['record_id'].nunique() if len(findings) else 0} patients"),
        KeyFigure("Queries open now", str(m.open_now), f"{m.answered_now} answered, awaiting "
                  "review by the next sweep"),
        KeyFigure("Queries in the last month", f"{m.opened_in_period} opened",
                  f"{m.answered_in_period} answered, {m.closed_in_period} closed"),
        KeyFigure("Median days to close", num(m.median_days_to_close, 0), "raised → closed"),
    ])
    comp, skipped = completeness(raw, dictionary, repeating_forms,
                                 expected=project.expected_forms if project else None,
                                 not_yet=not_yet)
    note = (f"{skipped} required fields whose branching logic could not be evaluated are left "
            "out." if skipped else "")
    titles = instrument_titles(dictionary, project)
    sections = [
        Section("quality-summary", "Summary", [summary, Paragraph(
            "Findings come from the study's check rules run on the data at the cut-off; "
            "queries are the records of the Data queries form that the sweep writes back "
            "to REDCap and the sites answer there.", "note")], page_break=False),
        Section("quality-findings", "Check findings",
                [findings_by_rule(findings, rule_titles), findings_by_site(findings, labels)],
                page_break=False),
        Section("quality-queries", "Data queries", [
            queries_by(q, "dag", labels, caption="Queries by site", id="queries-by-site"),
            queries_by(q, "dq_form", titles, caption="Queries by instrument",
                       id="queries-by-form")],
            page_break=False),
        Section("quality-completeness", "Completeness of required fields", [
            completeness_table(comp, "dag", labels, id="completeness-by-site",
                               caption="Required fields by site", footnote=note),
            completeness_table(comp, "form", titles, id="completeness-by-form",
                               caption="Required fields by instrument", footnote=note),
            missing_by_reason(missing_reasons, dictionary, titles=titles)],
            page_break=False),
    ]
    if type_problems is not None and len(type_problems):
        sections.append(Section("quality-types", "Values that do not fit their field type",
                                [type_problems_table(type_problems, dictionary,
                                                     titles=titles)],
                                page_break=False))
    if project is not None:
        sections.extend(site_pages(findings, comp, q, labels, project))
    return ReportContext(cover, sections, f"{cover.study_name} data quality · cut-off "
                         f"{cover.cutoff_date.isoformat()}".lstrip())


def site_pages(findings: pd.DataFrame, comp: pd.DataFrame, q: pd.DataFrame,
               labels: dict[str, str], project: StudyProject) -> list[Section]:
    """One page per site with records, in the site's language: its findings, open queries
    and required-field completeness by instrument (instrument titles as the CRF shows them
    in that language)."""
    from sgbm_redcap.reports.i18n import text

    sites = sorted(set(comp["dag"]) | set(findings.get("dag", pd.Series(dtype=str))) - {""})
    pages = []
    for dag in sites:
        lang = project.dag_language(str(dag))
        title, _, _ = _crf_words(project, lang)
        mine = findings[findings["dag"] == dag] if len(findings) else findings
        queries = q[q["dag"] == dag] if len(q) else q
        n_open = int(queries["status"].isin(["Open", "Reopened"]).sum()) if len(queries) else 0
        key = KeyFigures(f"site-key-{dag}", [
            KeyFigure(text(lang, "errors"), str(int((mine["severity"] == "error").sum()))
                      if len(mine) else "0", ""),
            KeyFigure(text(lang, "warnings"), str(int((mine["severity"] == "warning").sum()))
                      if len(mine) else "0", ""),
            KeyFigure(text(lang, "patients"), str(mine["record_id"].nunique())
                      if len(mine) else "0", ""),
            KeyFigure(text(lang, "queries_open"), str(n_open), ""),
        ])
        part = comp[comp["dag"] == dag].groupby("form", sort=False)[["expected", "filled"]].sum()
        rows = [[title(str(form)), str(int(r["expected"])), str(int(r["filled"])),
                 complete_pct(r["filled"], r["expected"])] for form, r in part.iterrows()]
        table = Table(f"site-completeness-{dag}", text(lang, "site_completeness"),
                      [text(lang, "col_instrument"), text(lang, "expected"),
                       text(lang, "filled"), text(lang, "complete")], rows)
        pages.append(Section(f"site-{dag}", text(lang, "site_page",
                                                 site=labels.get(str(dag), str(dag))),
                             [key, table], lang=lang))
    return pages


#: ``StudyTables.type_problems`` columns (CONTRACTS §4) shown, with their headings
TYPE_PROBLEM_COLUMNS = (("record_id", "Record"), ("form", "Instrument"),
                        ("redcap_repeat_instance", "Instance"), ("field", "Field"),
                        ("value", "Value"), ("expected", "Expected"))


def type_problems_table(type_problems: pd.DataFrame, dictionary: Any, *,
                        limit: int = 200, titles: dict[str, str] | None = None) -> Table:
    """The first ``limit`` values that did not fit their field's type, each instrument by
    its title (``titles``, default :func:`instrument_titles`) and each field by its label.
    The value of an identifier field is never shown (the row still says which field to look
    at)."""
    ids = identifier_fields(dictionary)
    titles = titles if titles is not None else instrument_titles(dictionary)
    shown = [(c, h) for c, h in TYPE_PROBLEM_COLUMNS if c in type_problems.columns]
    words = {"form": lambda v: titles.get(str(v), str(v)),
             "field": lambda v: dictionary.field(str(v)).label if str(v) in dictionary
             else str(v)}
    rows = []
    for rec in type_problems.head(limit).itertuples(index=False):
        hidden = is_identifier_column(str(getattr(rec, "field", "")), ids)
        rows.append([IDENTIFIER_HIDDEN if c == "value" and hidden
                     else cell(words[c](getattr(rec, c)) if c in words else getattr(rec, c))
                     for c, _ in shown])
    n = len(type_problems)
    return Table("type-problems", "Values kept as text because they do not fit the field's "
                 "validation", [h for _, h in shown], rows, text_columns=len(shown), wide=True,
                 footnote=(f"{n} values; the first {limit} are listed." if n > limit
                           else f"{n} value{'s' if n != 1 else ''}, all listed."))


# --------------------------------------------------------------------------- site listings
@dataclass
class SiteListingContext:
    """Context of ``site_queries.html.j2``: one site's queries that need an answer, in the
    site's language (``lang``; ``ui`` holds the toolkit's words in it)."""

    site: str
    cover: Cover
    summary: KeyFigures
    open_queries: Table
    answered_queries: Table
    running_header: str
    lang: str = "en"
    ui: dict[str, str] = field(default_factory=dict)
    intro: str = ""


def _crf_words(project: StudyProject | None, language: str) -> tuple[Any, Any, Any]:
    """(instrument title, field label, status word) functions in ``language``: the CRF's
    translation where the project has one, the English CRF otherwise."""
    if project is None:
        project = study_project()
    t = project.translation(language) if language != project.default_language else None
    d = project.dictionary

    def title(form: str) -> str:
        return (t.form_title(form) if t else "") or project.form_label(form) if form else ""

    def label(name: str) -> str:
        f = d.get(name) if name else None
        return ((t.field_text(name, "label") if t else "") or (f.label if f else name)
                if name else "")

    status_field = d.get("dq_status")

    def status(code: str, word: str) -> str:
        shown = (t.choice("dq_status", code) if t else "") or (
            status_field.choices.get(code, "") if status_field else "")
        return shown or word.capitalize()

    return title, label, status


def site_listing(raw: pd.DataFrame, dag: str, *, cover: Cover, site_label: str = "",
                 today: date | None = None, language: str = "en",
                 project: StudyProject | None = None) -> SiteListingContext:
    """The listing a site works from, from a flat raw export: the rows the sweep's listings
    have too (:mod:`sgbm_redcap.queries.listings`)."""
    site = site_listing_rows(raw, dag)
    return site_listing_context(site, cover=cover, site_label=site_label, today=today,
                                language=language, project=project)


def site_listing_context(site: SiteQueries, *, cover: Cover, site_label: str = "",
                         today: date | None = None, language: str = "en",
                         project: StudyProject | None = None) -> SiteListingContext:
    """Open and reopened queries first (oldest first), then answered ones awaiting the next
    sweep; ``today`` (default: the cover's cut-off) counts the days open. Everything a site
    reads is in ``language``: headings, instrument titles and field labels (from the CRF's
    translation), statuses, the site's part of a bilingual message and the sweep's note
    (which never repeats the message)."""
    from sgbm_redcap.queries.messages import message_in
    from sgbm_redcap.reports.i18n import sweep_note, text, words

    lang = language or "en"
    title, label, status = _crf_words(project, lang)
    q = site.queries
    opened = pd.to_datetime(q["dq_opened_date"].replace("", None), errors="coerce")
    q = q.assign(opened=opened)
    today_ts = pd.Timestamp(today or cover.cutoff_date)
    # the sweep's note goes under the message it is about: a column of its own was one
    # word wide on the page
    cols = [text(lang, k) for k in ("col_record", "col_instrument", "col_field",
                                     "col_message", "col_status", "col_raised", "col_days",
                                     "col_rule")]
    titles = rule_titles()

    def where(r: Any) -> str:
        inst = str(r.dq_instance or "").strip()
        shown = title(str(r.dq_form))
        return f"{shown} {text(lang, 'instance', n=inst)}" if inst not in ("", "0") else shown

    def rows(part: pd.DataFrame) -> list[list[str]]:
        part = part.sort_values("opened", kind="stable")
        days = (today_ts - part["opened"]).dt.days
        out = []
        for r, d in zip(part.itertuples(index=False), days, strict=True):
            message = message_in(str(r.dq_message), lang)
            note = sweep_note(str(r.dq_note), lang, message)
            shown = f"{message} ({text(lang, 'col_note')}: {note})" if note else message
            out.append([cell(r.record_id), cell(where(r)), cell(label(str(r.dq_field))),
                        cell(shown), cell(status(str(r.dq_status), str(r.status))),
                        cell(r.opened), DASH if pd.isna(d) else str(int(d)), cell(r.dq_rule)])
        return out

    def legend(part: pd.DataFrame) -> str:
        """The words of each rule id the table shows (rule ids never stand alone)."""
        ids = sorted({str(r) for r in part["dq_rule"] if str(r or "").strip()})
        return (f"{text(lang, 'col_rule')}: " + "; ".join(
            f"{i} {titles[i]}" if i in titles else i for i in ids) + ".") if ids else ""

    open_q = q[q["status"].isin(["open", "reopened"])]
    answered = q[q["status"] == "answered"]
    label_site = site_label or site.dag or "no site"
    overdue = int(((today_ts - open_q["opened"]).dt.days > 30).sum())
    summary = KeyFigures("site-key", [
        KeyFigure(text(lang, "open_or_reopened"), str(len(open_q)),
                  text(lang, "overdue", n=overdue)),
        KeyFigure(text(lang, "answered_waiting"), str(len(answered)), ""),
        KeyFigure(text(lang, "closed"), str(site.closed), ""),
    ])
    return SiteListingContext(
        site=label_site, cover=cover, summary=summary,
        open_queries=Table("open", text(lang, "to_answer"), cols, rows(open_q),
                           text_columns=len(cols), wide=True, footnote=legend(open_q),
                           empty_message=text(lang, "none_open")),
        answered_queries=Table("answered", text(lang, "to_review"), cols, rows(answered),
                               text_columns=len(cols), wide=True, footnote=legend(answered),
                               empty_message=text(lang, "none")),
        running_header=(f"{cover.study_name} {text(lang, 'listing_header')} · {label_site} · "
                        f"{cover.cutoff_date.isoformat()}").lstrip(),
        lang=lang, ui=words(lang),
        intro=text(lang, "listing_intro", cutoff=cover.cutoff_date.isoformat(),
                   generated=cover.generated_at.strftime("%Y-%m-%d %H:%M UTC")),
    )


def render_site_listing(site: SiteQueries, as_of: str,
                        project: StudyProject | None = None, language: str = "en") -> str:
    """A site's listing as HTML (``site_queries.html.j2``): the renderer the sweep hands to
    :func:`sgbm_redcap.queries.listings.write_listings`. ``project`` names the study (default:
    the study of this repository); ``language`` is the site's."""
    day = date.fromisoformat(str(as_of)[:10])
    cover = study_cover("Data queries", day, extract_date=None, dictionary_version="",
                        data_source="query sweep", generated_at=datetime.now(timezone.utc),
                        package_versions=[], project=project)
    labels = dict((project or study_project()).dags)
    return render("site_queries.html.j2", site_listing_context(
        site, cover=cover, site_label=labels.get(site.dag, ""), today=day,
        language=language, project=project))
