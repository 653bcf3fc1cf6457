"""Synthetic monitoring data (issue 17): the cohort entered into a sandbox the way sites
enter it, over months, with the sandbox's log written at a simulated clock, so the key risk
indicators and the audit-trail review have something real to find.

Planted, and listed in :attr:`MonitoringWorld.manifest`:

- every site enters its rows a fixed number of days after their date (``ENTRY_LAGS``: all
  within the limits, but different);
- one **slow-answering site**: its queries are answered 35–60 days after they were raised
  (the others: 2–10);
- one **under-reporting site**: most of its non-serious AEs never entered;
- one **retrospective change after a closed query**: a RANO-BM call changed three weeks after
  the query on it was closed.

The cohort itself carries no planted data problems (``problem_rate`` 0): nothing else should
be flagged. A row is entered on its own date (the earliest date it holds) plus its site's
lag, never before its record's first row and never after the reference date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from sgbm_redcap.synthetic.cohort import DEFAULT_EXTRACT_DATE, generate_cohort

#: days from a row's date to its entry, per site in order
ENTRY_LAGS = (3, 6, 9, 12, 5)
SLOW_SITE, UNDER_SITE, CHANGE_SITE = 1, 2, 0
UNDER_KEEP = 0.5
_NOTES = 40          # the sandbox logs at most 50 values per record per request
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_KEYS = ("record_id", "redcap_repeat_instrument", "redcap_repeat_instance")


@dataclass(frozen=True)
class Planted:
    """One planted monitoring signal: ``what`` it is, at which ``site``, the indicator or
    audit finding that should show it, and the record (if one)."""

    what: str
    site: str
    shows_as: str
    record: str = ""


@dataclass
class MonitoringWorld:
    token: str
    ref: dt.date
    sites: list[tuple[str, str]]
    lags: dict[str, int]
    manifest: list[Planted] = field(default_factory=list)

    def red(self) -> set[tuple[str, str]]:
        """(site, indicator) pairs the planted signals should turn red."""
        return {(p.site, p.shows_as) for p in self.manifest if not p.shows_as.startswith(
            "audit:") and p.what != "entry lag"}


def _row_day(row: dict[str, str]) -> dt.date | None:
    days = [v[:10] for k, v in row.items() if k not in _KEYS and _DATE.match(str(v))]
    return dt.date.fromisoformat(min(days)) if days else None


def _post(sandbox: object, token: str, rows: list[dict[str, str]]) -> None:
    body = urlencode({"token": token, "content": "record", "format": "json", "type": "flat",
                      "overwriteBehavior": "normal", "data": json.dumps(rows)})
    status, _, answer = sandbox.handle(body)  # type: ignore[attr-defined]
    if status != 200:
        raise RuntimeError(f"sandbox refused a monitoring import: {answer[:200]!r}")


def _batches(rows: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """Requests in which no record carries more than ``_NOTES`` values (all logged)."""
    out: list[list[dict[str, str]]] = [[]]
    notes: dict[str, int] = {}
    for row in rows:
        n = sum(1 for k, v in row.items() if k not in _KEYS and v != "")
        if out[-1] and notes.get(row["record_id"], 0) + n > _NOTES:
            out.append([])
            notes = {}
        out[-1].append(row)
        notes[row["record_id"]] = notes.get(row["record_id"], 0) + n
    return [b for b in out if b]


def seed_monitoring(sandbox: object, *, n: int = 100, seed: int = 17,
                    ref: dt.date = DEFAULT_EXTRACT_DATE, n_sites: int = 5) -> MonitoringWorld:
    """Create the study project in ``sandbox`` (in-process) and enter the cohort, the queries
    and the planted signals at simulated times. Returns the world with its manifest."""
    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.synthetic.seed import DEFAULT_PROJECT_DIR, seed_study

    project = load_project(DEFAULT_PROJECT_DIR)
    sites = project.dags[:n_sites]
    cohort = generate_cohort(n, seed, 0.0, extract_date=ref, sites=sites)
    token = seed_study(sandbox, cohort=dataclasses.replace(cohort, records=[]),  # type: ignore[arg-type]
                       api_url="http://127.0.0.1/api/").token
    rng = random.Random(seed)
    order = [s for s, _ in sites]
    lags = {s: ENTRY_LAGS[i % len(ENTRY_LAGS)] for i, s in enumerate(order)}
    under, slow, changer = order[UNDER_SITE], order[SLOW_SITE], order[CHANGE_SITE]
    rows = [r for r in cohort.records
            if not (cohort.dags[r["record_id"]] == under
                    and r["redcap_repeat_instrument"] == "adverse_events"
                    and r.get("ae_serious") != "1" and rng.random() > UNDER_KEEP)]
    manifest = [Planted("entry lag", s, "entry_lag") for s in order]
    manifest += [Planted("under-reporting of non-serious AEs", under, "ae_rate"),
                 Planted("slow answering of queries", slow, "days_to_answer")]
    entered: dict[str, dt.date] = {}
    when: list[tuple[dt.date, int, dict[str, str]]] = []
    for i, row in enumerate(rows):
        rec = row["record_id"]
        day = _row_day(row) or ref
        at = min(day + dt.timedelta(days=lags[cohort.dags[rec]]), ref)
        if row["redcap_repeat_instrument"] == "":
            row = dict(row, redcap_data_access_group=cohort.dags[rec])
        when.append((at, i, row))
    for at, _, row in sorted(when, key=lambda t: (t[0], t[1])):
        entered.setdefault(row["record_id"], at)
    # every row of a record after its first: the record exists (and has its DAG) by then
    schedule: dict[dt.date, list[dict[str, str]]] = {}
    for at, _, row in sorted(when, key=lambda t: (max(t[0], entered[t[2]["record_id"]]),
                                                  t[2]["redcap_repeat_instrument"] != "", t[1])):
        schedule.setdefault(max(at, entered[row["record_id"]]), []).append(row)
    queries, change = _queries(cohort.dags, rows, schedule, rng, ref=ref, slow=slow,
                               changer=changer)
    for day, q in queries:
        schedule.setdefault(day, []).append(q)
    schedule.setdefault(change[0], []).append(change[1])
    manifest.append(Planted("RANO-BM call changed after its query was closed", changer,
                            "audit:after_query", change[1]["record_id"]))
    for day in sorted(schedule):
        stamp = dt.datetime.combine(day, dt.time(10, 0))
        with sandbox.simulated_clock(stamp):  # type: ignore[attr-defined]
            for batch in _batches(schedule[day]):
                _post(sandbox, token, batch)
    return MonitoringWorld(token, ref, sites, lags, manifest)


def _queries(dags: dict[str, str], rows: list[dict[str, str]],
             schedule: dict[dt.date, list[dict[str, str]]], rng: random.Random, *,
             ref: dt.date, slow: str, changer: str
             ) -> tuple[list[tuple[dt.date, dict[str, str]]], tuple[dt.date, dict[str, str]]]:
    """About one query per two patients, on a scan's RANO-BM call, raised over the last six
    months; answered 2–10 days later (the slow site: 35–60), closed 3–10 days after the
    answer. The closed query of ``changer`` whose call is then changed is the last one."""
    scans = [r for r in rows if r["redcap_repeat_instrument"] == "intracranial_assessment"
             and r.get("ia_rano_inv") and _row_day(r) and _row_day(r) < ref - dt.timedelta(
                 days=120)]
    out: list[tuple[dt.date, dict[str, str]]] = []
    count: dict[str, int] = {}
    picked = rng.sample(scans, min(len(scans), len(dags) // 2))
    target = next(r for r in picked if dags[r["record_id"]] == changer)
    for r in picked:
        rec = r["record_id"]
        opened = ref - dt.timedelta(days=rng.randint(3, 180))
        if r is target:
            opened = ref - dt.timedelta(days=70)
        wait = rng.randint(35, 60) if dags[rec] == slow and r is not target else \
            rng.randint(2, 10)
        answered = opened + dt.timedelta(days=wait)
        closed = answered + dt.timedelta(days=rng.randint(3, 10))
        count[rec] = count.get(rec, 0) + 1
        status = "3" if closed <= ref else "2" if answered <= ref else "1"
        q = {"record_id": rec, "redcap_repeat_instrument": "data_queries",
             "redcap_repeat_instance": str(count[rec]),
             "dq_id": f"monitoring:{rec}:intracranial_assessment:"
                      f"{r['redcap_repeat_instance']}:ia_rano_inv",
             "dq_rule": "rano_check", "dq_severity": "2", "dq_form": "intracranial_assessment",
             "dq_instance": r["redcap_repeat_instance"], "dq_field": "ia_rano_inv",
             "dq_message": "Please confirm the RANO-BM call against the measurements.",
             "dq_status": status, "dq_opened_date": opened.isoformat(),
             "dq_answered_date": answered.isoformat() if status != "1" else "",
             "dq_site_response": "Confirmed against the source." if status != "1" else "",
             "dq_closed_date": closed.isoformat() if status == "3" else ""}
        out.append((opened, q))
    new = "2" if target["ia_rano_inv"] != "2" else "3"
    change = {"record_id": target["record_id"], "redcap_repeat_instrument":
              "intracranial_assessment", "redcap_repeat_instance":
              target["redcap_repeat_instance"], "ia_rano_inv": new}
    return out, (ref - dt.timedelta(days=40), change)


__all__ = ["ENTRY_LAGS", "MonitoringWorld", "Planted", "seed_monitoring"]
