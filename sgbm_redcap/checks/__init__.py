"""Checks: a declarative rule registry, the generic dictionary rules (REDCap Data Quality
B–H), eligibility and the study's consistency rules. Findings are data.

::

    from sgbm_redcap.checks import run_checks, REGISTRY
    result = run_checks(tables, cutoff="2026-11-01")     # CheckResult
    result.findings                                      # DataFrame, FINDING_COLUMNS
    result.failed_rules, result.skipped_rules            # rules that crashed / had no dictionary
"""

from __future__ import annotations

from sgbm_redcap.checks import (  # noqa: F401 - registers
    cross_form,
    dates,
    eligibility,
    generic,
    study,
)
from sgbm_redcap.checks.context import CheckContext
from sgbm_redcap.checks.eligibility import screening_table
from sgbm_redcap.checks.engine import CheckResult, run_checks
from sgbm_redcap.checks.findings import (
    FINDING_COLUMNS,
    Finding,
    from_findings,
    query_id,
    query_ids,
    to_findings,
)
from sgbm_redcap.checks.registry import REGISTRY, Rule, RuleRegistry, render_markdown

__all__ = [
    "CheckContext", "CheckResult", "FINDING_COLUMNS", "Finding", "REGISTRY", "Rule", "RuleRegistry",
    "from_findings", "query_id", "query_ids", "render_markdown", "run_checks",
    "screening_table", "to_findings",
]
