"""The executive summary on page 1 of the monthly report: enrolment against the target, the
key efficacy and safety numbers, a data-quality headline and what needs the committee's
attention, every item derived from the data at the cut-off.

Everything here is read from :class:`sgbm_redcap.analysis.StudyResults` and the analysis
modules (:mod:`sgbm_redcap.analysis.flow`, :mod:`sgbm_redcap.analysis.deaths`); this module
only words it. ``changes_summary`` (what changed since the previous data cut) is filled by
the data-cut job and shown when it is not empty.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.analysis.deaths import DEATH_WINDOW_DAYS, deaths
from sgbm_redcap.analysis.flow import PatientFlow, enrolled_mask
from sgbm_redcap.analysis.survival import fmt_time
from sgbm_redcap.dictionary.project import StudyProject
from sgbm_redcap.reports.contexts import ExecutiveSummary, KeyFigure, KeyFigures, Paragraph
from sgbm_redcap.reports.formatting import DASH, n_pct
from sgbm_redcap.study_codes import VitalStatus

#: the severity of a check finding that is an error (``checks.registry`` severities)
ERROR = "error"
#: patients alive and not contacted for longer than this are an attention item
CONTACT_DAYS = 90
#: share of the safety set stopping SG for toxicity above which the committee is told
TOXICITY_STOP_SHARE = 0.10


def plural(n: int, word: str, many: str = "") -> str:
    """``1 patient``, ``2 patients`` (``many`` for irregular plurals)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def proportion_text(p: Any) -> str:
    """``20/85 (23.5%; exact 95% CI 15.0–34.0)``, or why it is not estimable."""
    if p is None or not p.n:
        return "not estimable (NE): no patient in the denominator yet"
    return (f"{p.x}/{p.n} ({100 * p.estimate:.1f}%; exact 95% CI {100 * p.lower:.1f}–"
            f"{100 * p.upper:.1f})")


def median_text(km: Any, what: str = "patients") -> str:
    """A Kaplan–Meier median with its 95% CI, "not reached" or NE with the reason."""
    if km is None or not km.n:
        return f"not estimable (NE): no {what} yet"
    if not km.events:
        return f"not estimable (NE): no event yet in {km.n} {what}"
    if not np.isfinite(km.median):
        return (f"not reached (95% CI {fmt_time(km.median_lower)}–"
                f"{fmt_time(km.median_upper)}); {km.events} events in {km.n} {what}")
    return (f"{km.median:.1f} months (95% CI {fmt_time(km.median_lower)}–"
            f"{fmt_time(km.median_upper)}); {km.events} events in {km.n} {what}")


def _norm(label: str) -> str:
    return label.replace(">=", "≥").replace("≥ ", "≥").lower()


def _overview(results: Any, label: str) -> int:
    """Patients of a row of ``results.teae_overview`` (the one definition of each row),
    found by its label with "≥"/">=" spelt either way."""
    ov = results.teae_overview
    row = ov[ov["category"].map(_norm) == _norm(label)]
    return int(row["n"].iloc[0]) if len(row) else 0


def _enrolment(study: Any, project: StudyProject, cutoff: date,
               labels: dict[str, str]) -> tuple[KeyFigure, str, list[str]]:
    enrol = study.one_per_record("enrolment")
    enrolled = enrol[enrolled_mask(enrol)]
    n, target = len(enrolled), project.enrolment_target
    end = pd.Period(cutoff, freq="M")
    last3 = int(enrolled["enrol_date"].dt.to_period("M").isin([end - 2, end - 1, end]).sum())
    attention: list[str] = []
    text = f"{n} patients enrolled"
    if target:
        text += f" of the target of {target} ({100 * n / target:.0f}%)"
    if project.enrolment_start:
        text += f" since {project.enrolment_start.strftime('%B %Y')}"
    text += f"; {last3} in the last 3 months."
    if target and n < target:
        if last3:
            months = (target - n) / (last3 / 3)
            text += (f" At that pace the target is reached in about {months:.0f} more "
                     "months.")
        else:
            attention.append(f"No patient was enrolled in the last 3 months; {target - n} "
                             "remain to reach the target.")
    idle = sorted(labels[d] for d in labels
                  if not (enrolled["redcap_data_access_group"] == d).any())
    if idle:
        text += (f" {len(idle)} of {len(labels)} sites have no patient enrolled yet "
                 f"({', '.join(idle)}).")
    detail = (f"{100 * n / target:.0f}% of target" if target else "no target set")
    return KeyFigure("Enrolled / target", f"{n} / {target or DASH}", detail), text, attention


def _efficacy(results: Any) -> tuple[list[KeyFigure], str]:
    p = results.proportions.get("iORR_confirmed")
    ipfs, os_ = results.km.get("ipfs"), results.km.get("os")
    items = [KeyFigure("Confirmed iORR (RANO-BM)",
                       DASH if p is None or not p.n else f"{100 * p.estimate:.1f}%",
                       "NE: no response-evaluable patient" if p is None or not p.n else
                       f"{p.x}/{p.n}; exact 95% CI {100 * p.lower:.1f}–{100 * p.upper:.1f}"),
             KeyFigure("Median iPFS",
                       "NE" if ipfs is None or not ipfs.events else
                       f"{fmt_time(ipfs.median)} months",
                       "no event yet" if ipfs is None or not ipfs.events else
                       f"95% CI {fmt_time(ipfs.median_lower)}–{fmt_time(ipfs.median_upper)}")]
    text = (f"Confirmed intracranial objective response rate (RANO-BM, response-evaluable "
            f"set): {proportion_text(p)}. Median intracranial progression-free survival "
            f"(full analysis set): {median_text(ipfs)}. Median overall survival: "
            f"{median_text(os_)}.")
    return items, text


def _safety(results: Any) -> tuple[list[KeyFigure], str, list[str]]:
    n = int(results.set_counts.get("safety", 0))
    g3 = _overview(results, "Grade ≥ 3 TEAE")
    serious = _overview(results, "Serious TEAE")
    disc = _overview(results, "TEAE leading to discontinuation")
    g5 = _overview(results, "TEAE leading to death (grade 5)")
    related5 = _overview(results, "Treatment-related death")
    safety_ids = results.sets.loc[results.sets["safety"], "record_id"].tolist()
    dead = deaths(results.endpoints, results.exposure, safety_ids)
    early = int(dead["within_30_days"].sum())
    text = (f"Safety set {n}: grade ≥ 3 treatment-emergent adverse events (TEAEs) in "
            f"{n_pct(g3, n)}, serious TEAEs in {n_pct(serious, n)}, TEAEs leading to "
            f"discontinuation in {n_pct(disc, n)}. {len(dead)} deaths, {early} of them within "
            f"{DEATH_WINDOW_DAYS} days of the last SG dose; grade 5 TEAEs in {g5} patients "
            f"({related5} assessed as treatment-related or of unknown relation).")
    attention = []
    if g5:
        attention.append(f"{plural(g5, 'patient')} with a grade 5 (fatal) TEAE, {related5} of them "
                         "treatment-related or of unknown relation: see the serious adverse "
                         "event and death listings.")
    if early:
        attention.append(f"{plural(early, 'death')} within {DEATH_WINDOW_DAYS} days of the last SG "
                         "dose (flagged in the death listing).")
    if n and disc / n > TOXICITY_STOP_SHARE:
        attention.append(f"TEAEs led to discontinuation in {n_pct(disc, n)} of the safety set "
                         f"(more than {100 * TOXICITY_STOP_SHARE:.0f}%).")
    items = [KeyFigure("Grade ≥ 3 TEAE", n_pct(g3, n), f"safety set, N = {n}"),
             KeyFigure("Deaths", str(len(dead)),
                       f"{early} within {DEATH_WINDOW_DAYS} days of the last dose")]
    return items, text, attention


def _quality(tables: Any, study: Any, results: Any, findings: pd.DataFrame | None,
             cutoff: date) -> tuple[KeyFigure, str, list[str]]:
    from sgbm_redcap.reports.quality import query_frame, query_metrics

    q = query_frame(tables.raw)
    m = query_metrics(q, cutoff=cutoff)
    attention: list[str] = []
    parts = [f"{m.open_now} data queries open at the cut-off ({m.answered_now} answered by "
             f"the sites and awaiting review); {m.opened_in_period} opened and "
             f"{m.closed_in_period} closed in the last month."]
    if findings is not None and len(findings):
        errors = findings[findings["severity"] == ERROR]
        parts.append(f"Data checks: {plural(len(errors), 'error')} in "
                     f"{plural(errors['record_id'].nunique(), 'patient')}, "
                     f"{plural(len(findings) - len(errors), 'warning')}.")
    elif findings is not None:
        parts.append("Data checks: no finding.")
    x = results.response_discordance
    total = int(x.to_numpy().sum()) if x.size else 0
    agree = sum(int(x.loc[i, i]) for i in x.index if i in x.columns)
    if total and total - agree:
        attention.append(f"The investigator's RANO-BM call differs from the response derived "
                         f"from the lesion measurements in {total - agree} of {total} "
                         "post-baseline assessments: worth data queries before the next cut.")
    fu = study.one_per_record("follow_up")
    alive = fu["vital_status"] != VitalStatus.DEAD
    days = (pd.Timestamp(cutoff) - fu["last_contact_date"]).dt.days
    overdue = int((alive & (days > CONTACT_DAYS) & fu["record_id"].isin(
        results.sets.loc[results.sets["safety"], "record_id"])).sum())
    if overdue:
        attention.append(f"{plural(overdue, 'patient')} alive at the last contact not seen for "
                         f"more than {CONTACT_DAYS} days (follow-up status section).")
    return (KeyFigure("Open data queries", str(m.open_now), f"{m.answered_now} answered, "
                      "awaiting review"), " ".join(parts), attention)


def _flow_attention(flow: PatientFlow, results: Any) -> list[str]:
    out = []
    scan = [(r, k) for r, k in flow.not_fas.reasons if "imaging" in r]
    if scan:
        k = sum(k for _, k in scan)
        out.append(f"{plural(k, 'treated patient')} outside the full analysis set for lack of "
                   "baseline brain imaging in the window before SG: check whether a scan "
                   "exists.")
    if flow.check():
        out.append("The patient flow does not add up: " + "; ".join(flow.check()) + ".")
    return out


def _radiotherapy_attention(sens: pd.DataFrame | None) -> list[str]:
    """When FAS patients had brain radiotherapy < 4 weeks before SG: how iORR reads without
    them (radiation response cannot be told from an SG effect)."""
    if sens is None or len(sens) < 3 or not int(sens.iloc[2]["n_fas"]):
        return []
    alone, without = sens.iloc[2], sens.iloc[1]
    return [f"{plural(int(alone['n_fas']), 'patient')} of the full analysis set had brain "
            "radiotherapy less than 4 weeks before SG, so a radiation effect cannot be told "
            "from an SG effect in them; without them the confirmed iORR is "
            f"{proportion_text(without['iorr'])} (sensitivity analysis in the efficacy "
            "section)."]


def executive_summary(results: Any, study: Any, tables: Any, *, cutoff: date,
                      project: StudyProject, flow: PatientFlow, labels: dict[str, str],
                      findings: pd.DataFrame | None = None,
                      changes_summary: str = "",
                      rt_sensitivity: pd.DataFrame | None = None) -> ExecutiveSummary:
    """The summary of page 1 (see the module docstring); ``rt_sensitivity`` is
    :func:`sgbm_redcap.analysis.sensitivity.rt_sensitivity` when already computed."""
    enrol_key, enrol_text, attention = _enrolment(study, project, cutoff, labels)
    eff_items, eff_text = _efficacy(results)
    saf_items, saf_text, saf_attention = _safety(results)
    dq_key, dq_text, dq_attention = _quality(tables, study, results, findings, cutoff)
    fu = results.followup
    status = (f"Analysis sets: safety {flow.treated}, full analysis set {flow.fas}, "
              f"response-evaluable {flow.ires}; {flow.on_treatment} patients still on SG, "
              f"{flow.stopped.n} stopped.")
    if fu is not None and fu.n:
        status += (f" Median follow-up {fmt_time(fu.median)} months (reverse Kaplan–Meier; "
                   f"{fu.n} patients).")
    paragraphs = [Paragraph(f"Enrolment. {enrol_text} {status}"),
                  Paragraph(f"Efficacy. {eff_text}"),
                  Paragraph(f"Safety. {saf_text}"),
                  Paragraph(f"Data quality. {dq_text}")]
    attention += saf_attention + _flow_attention(flow, results) + dq_attention
    attention += _radiotherapy_attention(rt_sensitivity)
    key = KeyFigures("summary-key", [enrol_key, *eff_items, *saf_items, dq_key])
    return ExecutiveSummary(key, paragraphs, attention, changes_summary)
