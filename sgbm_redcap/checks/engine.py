"""Run the declared rules over all records at once and collect every finding."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import pandas as pd

from sgbm_redcap.checks.context import CheckContext
from sgbm_redcap.checks.findings import FINDING_COLUMNS, empty_findings
from sgbm_redcap.checks.registry import REGISTRY, Rule
from sgbm_redcap.dictionary.model import Dictionary

log = logging.getLogger(__name__)


class FlatTables(Protocol):
    """What the checks read of pulled tables (``StudyTables``, ``sweep.RawTables``): the flat
    export as raw strings and its dictionary (``repeating_forms`` too when they have it)."""

    raw: pd.DataFrame
    dictionary: Dictionary | None


@dataclass
class CheckResult:
    """What one run of the rules gives: the findings (exactly :data:`FINDING_COLUMNS`), the
    rules that crashed (``failed_rules``: the sweep leaves their queries as they are) and
    the rules not run for want of a dictionary (``skipped_rules``)."""

    findings: pd.DataFrame = field(repr=False)
    failed_rules: list[str] = field(default_factory=list)
    skipped_rules: list[str] = field(default_factory=list)

    @property
    def not_run(self) -> set[str]:
        """The rules whose absence of findings says nothing (failed or skipped)."""
        return set(self.failed_rules) | set(self.skipped_rules)

    def __len__(self) -> int:
        return len(self.findings)


class _Defaults(dict):
    """``str.format_map`` helper: an unknown placeholder renders as '?' instead of failing."""

    def __missing__(self, key: str) -> str:
        return "?"


def _render(rule: Rule, hits: pd.DataFrame) -> pd.DataFrame:
    out = hits.copy()
    if "form" not in out.columns:
        out["form"] = rule.form
    if "field" not in out.columns:
        out["field"] = rule.field
    if "value" not in out.columns:
        out["value"] = ""
    out["rule_id"] = rule.rule_id
    out["severity"] = rule.severity
    records = out.to_dict("records")
    out["message"] = [rule.message.format_map(_Defaults(_fmt(r))) for r in records]
    return out


def _fmt(row: dict[str, Any]) -> dict[str, Any]:
    clean = {}
    for k, v in row.items():
        if isinstance(v, pd.Timestamp):
            v = v.strftime("%Y-%m-%d") if not pd.isna(v) else "(blank)"
        elif isinstance(v, float) and v == v and v.is_integer():
            v = int(v)
        elif isinstance(v, float) and v == v:
            v = round(v, 1)
        clean[k] = v
    return clean


def run_checks(
    tables: FlatTables | CheckContext | pd.DataFrame,
    *,
    cutoff: date | str | None = None,
    rules: Iterable[Rule] | None = None,
    dictionary: Dictionary | None = None,
) -> CheckResult:
    """Every finding of ``rules`` (default: the whole registry) over ``tables``.

    ``tables`` is a ``StudyTables`` (its ``.raw`` and ``.dictionary`` are used), a
    :class:`CheckContext`, or a raw flat DataFrame. Returns a :class:`CheckResult`: the
    findings as a DataFrame with exactly :data:`FINDING_COLUMNS`; a rule that crashes is
    logged and named in ``failed_rules`` so that the query sweep does not close its
    queries; rules that need a dictionary when there is none are in ``skipped_rules``.
    """
    ctx = _context(tables, cutoff=cutoff, dictionary=dictionary)
    selected = list(rules) if rules is not None else list(REGISTRY)
    frames: list[pd.DataFrame] = []
    failed: list[str] = []
    skipped: list[str] = []
    for rule in selected:
        if rule.needs_dictionary and ctx.dictionary is None:
            skipped.append(rule.rule_id)
            continue
        started = time.perf_counter()
        try:
            hits = rule.predicate(ctx)
        except Exception:  # noqa: BLE001 - one broken rule must not hide the others
            log.exception("rule %s failed; its queries are left as they are", rule.rule_id)
            failed.append(rule.rule_id)
            continue
        if hits is not None and len(hits):
            frames.append(_render(rule, hits))
        log.debug("rule %s: %d hits in %.3fs", rule.rule_id, 0 if hits is None else len(hits),
                  time.perf_counter() - started)
    if frames:
        out = pd.concat(frames, ignore_index=True)
        out["dag"] = out["record_id"].map(ctx.dag_of).fillna("")
        out["instance"] = out["instance"].astype("int64")
        out["value"] = out["value"].fillna("").astype(str)
        out = out[FINDING_COLUMNS].drop_duplicates(
            subset=["rule_id", "record_id", "form", "instance", "field"]).reset_index(drop=True)
    else:
        out = empty_findings()
    if skipped:
        log.warning("no data dictionary: rules %s not run", ", ".join(skipped))
    return CheckResult(out, failed, skipped)


def _context(tables: FlatTables | CheckContext | pd.DataFrame, *, cutoff: date | str | None,
             dictionary: Dictionary | None) -> CheckContext:
    if isinstance(tables, CheckContext):
        return tables
    if isinstance(tables, pd.DataFrame):
        return CheckContext(tables, dictionary, cutoff=cutoff)
    raw = tables.raw
    d = dictionary if dictionary is not None else getattr(tables, "dictionary", None)
    repeating = getattr(tables, "repeating_forms", None)
    return CheckContext(raw, d, cutoff=cutoff,
                        repeating_forms=set(repeating) if repeating else None,
                        missing_codes=getattr(tables, "missing_codes", None))
