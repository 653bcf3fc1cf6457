"""The monthly interim report (DOMAIN §6.2): context built from the analysis results,
rendered to self-contained HTML and PDF.

:func:`run_monthly_report` is the one call ``sgbm-redcap report monthly`` and the scheduled
monthly job make (checks, then :func:`write_monthly_report`, which the demo calls directly).
:func:`build_monthly_context` turns the study tables into a :class:`ReportContext`: each
section has its own builder below; the analyses themselves (analysis sets, best response,
iPFS/OS, safety tables) come from :mod:`sgbm_redcap.analysis`, this module only lays them out.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from sgbm_redcap.analysis.bor import ORDER as RESPONSE_ORDER
from sgbm_redcap.analysis.flow import patient_flow
from sgbm_redcap.checks.engine import CheckResult
from sgbm_redcap.dictionary.project import StudyProject, study_project
from sgbm_redcap.reports import figures
from sgbm_redcap.reports.benchmarks import benchmarks_section
from sgbm_redcap.reports.contexts import (
    Figure,
    KeyFigure,
    KeyFigures,
    Paragraph,
    ReportContext,
    Section,
    Table,
    study_cover,
)
from sgbm_redcap.reports.env import render
from sgbm_redcap.reports.formatting import DASH, n_pct, num, pct, reader_text
from sgbm_redcap.reports.monthly_clinical import (
    efficacy_section,
    exposure_section,
    safety_section,
)
from sgbm_redcap.reports.monthly_sections import add_sections
from sgbm_redcap.reports.monthly_summary import executive_summary
from sgbm_redcap.reports.pdf import write_html_pdf
from sgbm_redcap.reports.quality import (
    completeness,
    completeness_table,
    findings_by_rule,
    instrument_titles,
    missing_by_reason,
    queries_by,
    query_frame,
    query_metrics,
    site_labels,
)
from sgbm_redcap.reports.query_ageing import NOT_YET_ACTIVE, add_query_ageing
from sgbm_redcap.reports.redaction import listing_table
from sgbm_redcap.source.asof import as_of, in_scope
from sgbm_redcap.study_codes import NewLesion, VitalStatus, YesNo

log = logging.getLogger(__name__)

LAST_CONTACT_FLAG_DAYS = 90
REPORT_PACKAGES = ("sgbm-redcap", "pandas", "numpy", "scipy", "lifelines", "matplotlib",
                   "jinja2", "weasyprint", "PyCap")


@dataclass(frozen=True)
class ReportFiles:
    """Where a rendered report went."""

    html: Path
    pdf: Path | None
    context: ReportContext


def package_versions(names: tuple[str, ...] = REPORT_PACKAGES) -> list[tuple[str, str]]:
    out = []
    for name in names:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return out


# --------------------------------------------------------------------------- data helpers
def _dag_labels(tables: Any, dags: Any) -> dict[str, str]:
    return site_labels(tables.raw, dags or ())


# --------------------------------------------------------------------------- 1 study status
def study_status_section(study: Any, sets: pd.DataFrame, labels: dict[str, str], *,
                         cutoff: date, target: int | None = None,
                         since: date | None = None) -> Section:
    """Enrolment against ``target`` (the project's enrolment_target) since ``since`` (its
    enrolment_start), the analysis sets, enrolment by site and the screening flow."""
    # the cut study: only patients screened by the cut-off, enrolment dates up to it
    enrol = study.one_per_record("enrolment")
    enrolled = enrol[enrol["enrol_date"].notna() & (enrol["eligible"] == YesNo.YES)]
    site = enrolled["redcap_data_access_group"].map(lambda d: labels.get(str(d), str(d)))
    key = KeyFigures("status-key", [
        KeyFigure("Enrolled / target", f"{len(enrolled)} / {target or DASH}",
                  (f"{pct(len(enrolled), target, 0)} of target" if target else "")
                  + (f" since {since.strftime('%B %Y')}" if since else "")),
        KeyFigure("Safety set", str(int(sets["safety"].sum())), "eligible, ≥ 1 SG dose"),
        KeyFigure("Full analysis set", str(int(sets["fas"].sum())), "brain metastases at SG "
                  "start, baseline brain imaging"),
        KeyFigure("Response-evaluable", str(int(sets["ires"].sum())), "FAS with ≥ 1 "
                  "measurable brain lesion"),
    ])
    fig = Figure("fig-enrolment", "Figure 1. Enrolment by month and site",
                 figures.enrolment_figure(pd.DataFrame({"enrol_date": enrolled["enrol_date"],
                                                        "site": site}), target=target,
                                          figure_id="enrolment"),
                 "Bars: patients enrolled per month, stacked by site; line: cumulative total"
                 + (f" against the target of {target}." if target else "."))
    return Section("study-status", "Study status", [
        key, fig, enrolment_by_site(enrolled, labels, cutoff=cutoff,
                                    screened=set(enrol["redcap_data_access_group"].dropna())),
        screening_flow(enrol, sets)])


def enrolment_by_site(enrolled: pd.DataFrame, labels: dict[str, str], *, cutoff: date,
                      months: int = 6, screened: set[str] | None = None) -> Table:
    """Enrolled per site: total, last 3 months, and each of the last ``months`` months. A
    site of the project with no screened patient (``screened``: the sites that have one) is
    "not yet active" rather than a row of zeros."""
    end = pd.Period(cutoff, freq="M")
    periods = [end - i for i in range(months - 1, -1, -1)]
    month = enrolled["enrol_date"].dt.to_period("M")
    rows = []
    for dag in sorted(set(labels) | set(enrolled["redcap_data_access_group"].dropna())):
        sel = enrolled["redcap_data_access_group"] == dag
        last3 = int((sel & month.isin(periods[-3:])).sum())
        if screened is not None and dag not in screened:
            rows.append([labels.get(dag, dag), "0", NOT_YET_ACTIVE, *[""] * len(periods)])
            continue
        rows.append([labels.get(dag, dag), str(int(sel.sum())), str(last3),
                     *[str(int((sel & (month == p)).sum())) for p in periods]])
    total = ["All sites", str(len(enrolled)), str(int(month.isin(periods[-3:]).sum())),
             *[str(int((month == p).sum())) for p in periods]]
    return Table("enrolment-by-site", "Table 1. Enrolment by site",
                 ["Site", "Total", "Last 3 months", *[p.strftime("%b %Y") for p in periods]],
                 [*rows, total], footnote="Eligible patients with an enrolment date, by the "
                 "month of enrolment; the last month is the month of the cut-off."
                 + (f" {NOT_YET_ACTIVE.capitalize()}: a site of the project with no screened "
                    "patient yet." if any(r[2] == NOT_YET_ACTIVE for r in rows) else ""))


def screening_flow(enrol: pd.DataFrame, sets: pd.DataFrame) -> Table:
    """Screened → eligible → enrolled → analysis sets, with reasons (STROBE item 13)."""
    screened = len(enrol)
    eligible = int((enrol["eligible"] == YesNo.YES).sum())
    not_eligible = enrol[enrol["eligible"] == YesNo.NO]
    unknown = screened - eligible - len(not_eligible)
    rows: list[list[str]] = [["Screened", str(screened)], ["Eligible", n_pct(eligible,
                                                                             screened)]]
    groups = set()
    groups.add(len(rows))
    rows.append([f"Not eligible: {len(not_eligible)}", ""])
    reasons = not_eligible["inelig_reason"].fillna("").replace("", "Reason not recorded")
    for reason, n in reasons.value_counts().items():
        rows.append([str(reason), str(int(n))])
    if unknown:
        rows.append(["Eligibility not recorded", str(unknown)])
    rows.append(["Enrolled (eligible, enrolment date)",
                 str(int(((enrol["eligible"] == YesNo.YES)
                          & enrol["enrol_date"].notna()).sum()))])
    for col, name in (("safety", "Safety set"), ("fas", "Full analysis set"),
                      ("ires", "Intracranial response-evaluable set")):
        rows.append([name, str(int(sets[col].sum()))])
        reasons = sets.loc[~sets[col] & (sets[f"{col}_reason"] != ""), f"{col}_reason"]
        for reason, n in reasons.value_counts().items():
            if col != "safety" and reason in ("not in safety set", "not in FAS"):
                continue
            rows.append([f"    excluded: {reader_text(reason)}", str(int(n))])
    return Table("screening-flow", "Table 2. Screening and analysis-set flow",
                 ["Step", "Patients"], rows, group_rows=frozenset(groups),
                 footnote="Reasons for non-eligibility are the sites' own words (reason "
                 "not eligible, enrolment form).")


# --------------------------------------------------------------------------- 2 follow-up
def follow_up_section(study: Any, results: Any, labels: dict[str, str], *,
                      cutoff: date, dictionary: Any) -> Section:
    sets = results.sets
    base = study.one_per_record("end_of_treatment", "follow_up")
    base = base.merge(sets[["record_id", "safety"]], on="record_id")
    safety = base[base["safety"].astype(bool)].copy()
    ex = results.exposure.set_index("record_id")
    cut = pd.Timestamp(cutoff)
    dead = safety["vital_status"] == VitalStatus.DEAD
    ltfu = safety["vital_status"] == VitalStatus.LOST_TO_FOLLOW_UP
    stopped = safety["record_id"].map(ex["discontinued"]).fillna(False).astype(bool)
    stopped &= ~dead & ~ltfu
    on_sg = ~dead & ~ltfu & ~stopped
    n = len(safety)
    status = Table("followup-status", "Table 3. Patient status at the cut-off (safety set)",
                   ["Status", f"Safety set (N = {n})"], [
                       ["On SG", n_pct(int(on_sg.sum()), n)],
                       ["Stopped SG, in follow-up", n_pct(int(stopped.sum()), n)],
                       ["Died", n_pct(int(dead.sum()), n)],
                       ["Lost to follow-up", n_pct(int(ltfu.sum()), n)]])
    blocks: list[Any] = [status]
    fu = results.followup
    if fu is not None:
        blocks.append(KeyFigures("followup-key", [
            KeyFigure("Median follow-up (reverse KM)", f"{fu.median_text()} months",
                      f"(95% CI), full analysis set, {fu.n} patients"),
            KeyFigure("Deaths up to the cut-off", str(int(dead.sum())),
                      f"of {n} in the safety set"),
        ]))
    since = (cut - safety["last_contact_date"]).dt.days
    flag = safety[~dead & (since > LAST_CONTACT_FLAG_DAYS)].assign(
        site=lambda f: f["redcap_data_access_group"].map(lambda d: labels.get(str(d), d)),
        days=since).sort_values("days", ascending=False)
    blocks.append(listing_table(
        flag.assign(days=flag["days"].map(lambda d: f"{d:.0f}")),
        columns=[("record_id", "Record"), ("site", "Site"),
                 ("last_contact_date", "Last contact"), ("days", "Days since")],
        id="followup-overdue", dictionary=dictionary, wide=False,
        caption=f"Table 4. Patients alive at the last contact and not seen for more than "
                f"{LAST_CONTACT_FLAG_DAYS} days",
        empty_message=f"None: every patient alive was contacted within "
                      f"{LAST_CONTACT_FLAG_DAYS} days."))
    # a short section: it follows the study status on the same page, not a page of its own
    return Section("follow-up", "Follow-up status", blocks, page_break=False)


# --------------------------------------------------------------------------- 3 data quality
def discordance_table(results: Any) -> Table:
    """Investigator RANO-BM call against the response derived from the measurements, both in
    the clinical order the best-response derivation declares (analysis.bor.ORDER: CR, PR,
    SD, non-CR/non-PD, PD, NE)."""
    x = results.response_discordance
    short = {"NON-CR/NON-PD": "Non-CR/non-PD"}

    def ordered(codes: Any) -> list[Any]:
        return sorted(codes, key=lambda c: (RESPONSE_ORDER.get(str(c), len(RESPONSE_ORDER)),
                                            str(c)))

    x = x.loc[ordered(x.index), ordered(x.columns)]
    cols = [short.get(str(c), str(c)) for c in x.columns]
    rows = [[short.get(str(i), str(i)), *[str(int(v)) for v in r]]
            for i, r in zip(x.index, x.to_numpy(), strict=True)]
    agree = sum(int(x.loc[i, i]) for i in x.index if i in x.columns)
    total = int(x.to_numpy().sum())
    return Table("response-discordance", "Table 9. Investigator versus derived RANO-BM "
                 "time-point response", ["Investigator ↓ / derived →", *cols], rows,
                 footnote=f"{agree} of {total} post-baseline assessments agree "
                 f"({pct(agree, total)}). Disagreements are worth a data query.")


def data_quality_section(tables: Any, findings: pd.DataFrame | None, labels: dict[str, str],
                         *, cutoff: date, results: Any = None,
                         project: StudyProject | None = None) -> Section:
    """Queries, completeness and findings of ``tables`` (the view as of the cut-off,
    :func:`sgbm_redcap.source.asof.as_of`); ``project`` gives the instrument titles and the
    expected forms."""
    q = query_frame(tables.raw)
    m = query_metrics(q, cutoff=cutoff)
    comp, skipped = completeness(tables.raw, tables.dictionary,
                                 getattr(tables, "repeating_forms", ()),
                                 expected=project.expected_forms if project else None,
                                 not_yet=getattr(tables, "not_yet", None))
    blocks: list[Any] = [KeyFigures("quality-key", [
        KeyFigure("Queries opened this month", str(m.opened_in_period),
                  f"{m.answered_in_period} answered, {m.closed_in_period} closed"),
        KeyFigure("Open now", str(m.open_now), f"{m.answered_now} answered, awaiting the "
                  "next sweep"),
        KeyFigure("Median days to close", num(m.median_days_to_close, 0), "raised → closed"),
    ])]
    note = (f"{skipped} required fields whose branching logic could not be evaluated are "
            "left out." if skipped else "")
    titles = instrument_titles(tables.dictionary, project)
    blocks += [
        completeness_table(comp, "dag", labels, id="completeness-by-site",
                           caption="Table 5. Required fields completed, by site",
                           footnote=note),
        completeness_table(comp, "form", titles, id="completeness-by-form",
                           caption="Table 6. Required fields completed, by instrument",
                           footnote=note),
        missing_by_reason(getattr(tables, "missing_reasons", None), tables.dictionary,
                          titles=titles),
        queries_by(q, "dag", labels, caption="Table 7. Data queries by site",
                   id="queries-by-site"),
        queries_by(q, "dq_form", titles, caption="Table 8. Data queries by instrument",
                   id="queries-by-form"),
    ]
    if results is not None:
        blocks.append(discordance_table(results))
    if findings is not None:
        blocks.append(findings_by_rule(findings))
    else:
        blocks.append(Paragraph("Check findings were not computed for this report.", "note"))
    # follows the (short) follow-up status on its page rather than leaving most of it blank
    return Section("data-quality", "Data completeness and quality", blocks, page_break=False)


# --------------------------------------------------------------------------- notes
def notes_section(extra: list[str]) -> Section:
    notes = [
        "Data cut-off: every time-to-event is censored at the cut-off date; data dated after "
        "it are not used.",
        *extra,
        "Patients of the response-evaluable set with no post-baseline brain scan count as "
        "non-responders.",
        "This is an observational study: comparisons with published results are descriptive.",
        "Direct identifiers (fields marked Identifier in the data dictionary) are never shown.",
    ]
    return Section("notes", "Notes and known limitations",
                   [Paragraph(reader_text(n)) for n in notes],
                   page_break=False)


# --------------------------------------------------------------------------- assemble
def build_monthly_context(tables: Any, *, cutoff: date, check_result: CheckResult | None = None,
                          dags: Any = None, data_source: str = "",
                          dictionary_version: str = "", extract_date: datetime | None = None,
                          generated_at: datetime | None = None,
                          project: StudyProject | None = None,
                          changes_summary: str = "",
                          report_version: str = "1",
                          cut: Any = None, previous_cut: Any = None) -> ReportContext:
    """Every section of the monthly report, from study tables (``StudyTables``).

    ``cut`` (a ``cuts.Cut``) names the data cut on the cover; with it the report opens with
    the changes since ``previous_cut`` (reports/changes.py).

    ``project`` names the study on the cover and running header (default: the study of this
    repository, :func:`sgbm_redcap.dictionary.project.study_project`); ``changes_summary``
    (what changed since the previous data cut) is shown in the executive summary when not
    empty; ``report_version`` is the version on the cover and in the document-control
    block (a re-issue of the same cut-off gets a new one)."""
    from sgbm_redcap.analysis import analyse_study
    from sgbm_redcap.analysis.endpoints import apply_cutoff

    project = project or study_project()
    results = analyse_study(tables, cutoff=cutoff)
    study = apply_cutoff(tables, cutoff)
    known = as_of(tables, cutoff)  # the flat export as known at the cut-off
    sets = results.sets
    changes = None
    if cut is not None:
        from sgbm_redcap.reports.changes import cut_changes

        changes = cut_changes(cut, previous_cut, results=results, tables=tables)
    labels = _dag_labels(tables, dags)
    dictionary = tables.dictionary
    pull = getattr(tables, "pull", None)
    extract = extract_date or pulled_at(pull)
    cover = study_cover(
        "Monthly interim report", cutoff, project=project, extract_date=extract,
        dictionary_version=dictionary_version or DASH,
        data_source=data_source or getattr(pull, "url", "") or "export file",
        generated_at=generated_at or datetime.now(timezone.utc),
        package_versions=package_versions(),
        data_cut=(f"{cut.path.name} · manifest sha256 {cut.manifest_sha256}" if cut is not None
                  else ""))
    cover = replace(cover, report_version=report_version)
    notes: list[str] = []
    if check_result is not None and check_result.failed_rules:
        notes.append("Check rules that failed to run: "
                     f"{', '.join(check_result.failed_rules)}.")
    findings = check_result.findings if check_result is not None else None
    sections = [
        study_status_section(study, sets, labels, cutoff=cutoff,
                             target=project.enrolment_target, since=project.enrolment_start),
        follow_up_section(study, results, labels, cutoff=cutoff, dictionary=dictionary),
        data_quality_section(known, findings, labels, cutoff=cutoff, results=results,
                             project=project),
        Section("baseline", "Baseline characteristics", []),
        exposure_section(results),
        efficacy_section(results, subtype=_coded(study, "tumour", "subtype_sg"),
                         new_lesion=new_brain_lesion(study)),
        safety_section(results, labels, dictionary,
                       death_causes=_coded(study, "follow_up", "death_cause")),
        benchmarks_section(),
        notes_section([*results.notes, *notes]),
    ]
    add_query_ageing(sections, known.raw, dags if dags is not None else project.dags,
                     cutoff=cutoff)
    flow = patient_flow(study, sets, results.exposure)
    facts = add_sections(sections, flow=flow, results=results, study=study, labels=labels)
    if changes is not None:
        sections.insert(0, changes[0])
    number_blocks(sections)
    summary = executive_summary(results, study, known, cutoff=cutoff, project=project,
                                flow=flow,
                                labels=labels, findings=findings,
                                changes_summary=changes_summary or (
                                    changes[1] if changes is not None else ""),
                                rt_sensitivity=facts["rt_sensitivity"])
    return ReportContext(cover, sections, f"{project.short_name} monthly interim report · cut-off "
                         f"{cutoff.isoformat()}", summary=summary)


_NUMBER = re.compile(r"^(Table|Figure|Listing) \d+[a-z]?\. ")
#: a reference to another block in a footnote or note: ``{ref:censoring}`` -> "Table 19"
_REF = re.compile(r"\{ref:([\w-]+)\}")


def number_blocks(sections: list[Section]) -> None:
    """Number tables, figures and listings in reading order ("Table 7. …"), so that adding a
    table never leaves two "Table 9"; then resolve each ``{ref:<block id>}`` of a footnote or
    note to that block's number, so that no caption points at a stale number (or itself)."""
    counters = {"Table": 0, "Figure": 0, "Listing": 0}
    numbers: dict[str, str] = {}

    def visit(section: Section) -> None:
        for i, block in enumerate(section.blocks):
            if not isinstance(block, Table | Figure):
                continue
            match = _NUMBER.match(block.caption)
            kind = match.group(1) if match else ("Figure" if isinstance(block, Figure)
                                                 else "Table")
            counters[kind] += 1
            text = _NUMBER.sub("", block.caption)
            section.blocks[i] = replace(block, caption=f"{kind} {counters[kind]}. {text}")
            numbers[block.id] = f"{kind} {counters[kind]}"
        for sub in section.subsections:
            visit(sub)

    def resolve(section: Section) -> None:
        for i, block in enumerate(section.blocks):
            attr = "footnote" if isinstance(block, Table) else "note"
            text = getattr(block, attr, None)
            if isinstance(text, str) and "{ref:" in text:
                section.blocks[i] = replace(block, **{attr: _REF.sub(
                    lambda m: numbers.get(m.group(1), "a table below"), text)})
        for sub in section.subsections:
            resolve(sub)

    for section in sections:
        visit(section)
    for section in sections:
        resolve(section)


def new_brain_lesion(study: Any) -> pd.Series:
    """Per record_id: True when any intracranial assessment up to the cut-off recorded a new
    lesion (the CRF's "New lesion: Yes")."""
    ia = study["intracranial_assessment"]
    return (ia["ia_new_lesion"] == NewLesion.YES).groupby(ia["record_id"]).any()


def _coded(study: Any, form: str, field: str) -> pd.Series:
    """A coded field's labels per record_id."""
    frame = study[form].drop_duplicates("record_id").set_index("record_id")[field]
    return frame.map(lambda code: study.label(field, code) if code is not None else None)


def pulled_at(pull: Any) -> datetime | None:
    """When ``pull`` (a ``StudyTables.pull``) was made, or None."""
    text = getattr(pull, "pulled_at", "") or ""
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def write_monthly_report(tables: Any, *, cutoff: date, out_dir: Path | str,
                         pdf: bool = True, **kwargs: Any) -> ReportFiles:
    """Render the monthly report into ``out_dir`` as ``monthly_report_<cutoff>.html`` (and
    ``.pdf``); ``kwargs`` go to :func:`build_monthly_context`."""
    out = Path(out_dir)
    context = build_monthly_context(tables, cutoff=cutoff, **kwargs)
    paths = write_html_pdf(render("monthly_report.html.j2", context),
                           out / f"monthly_report_{cutoff.isoformat()}", pdf=pdf)
    log.info("monthly report for cut-off %s written to %s", cutoff, out)
    return ReportFiles(paths[0], paths[1] if pdf else None, context)


def previous_month_end(today: date) -> date:
    """The last day of the month before ``today``'s: the monthly report's usual cut-off."""
    return today.replace(day=1) - timedelta(days=1)


def run_monthly_report(tables: Any, *, cutoff: date, out_dir: Path | str,
                       project: StudyProject,
                       pdf: bool = True, checks: bool = True,
                       data_source: str = "", **cut_kwargs: Any) -> ReportFiles:
    """The monthly report as ``sgbm-redcap report monthly`` makes it: the check findings at
    the cut-off (unless ``checks`` is False), then :func:`write_monthly_report` with the
    project's DAG labels and dictionary version. ``project`` is a ``StudyProject``;
    ``cut_kwargs`` (``cut``, ``previous_cut``, ``generated_at``, ``extract_date``) go to
    :func:`build_monthly_context`."""
    from sgbm_redcap.checks import run_checks

    # the checks judge what was known at the cut-off: data dated after it are out of scope
    known = as_of(tables, cutoff)
    result = (run_checks(known, cutoff=cutoff, dictionary=project.dictionary)
              if checks else None)
    if result is not None:
        result = replace(result, findings=in_scope(result.findings, known))
    return write_monthly_report(tables, cutoff=cutoff, out_dir=out_dir, pdf=pdf,
                                check_result=result, dags=project.dags,
                                dictionary_version=project.version, data_source=data_source,
                                project=project, **cut_kwargs)
