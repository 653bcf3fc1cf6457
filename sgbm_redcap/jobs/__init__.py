"""The jobs layer: one library call per thing a user of the toolkit does.

Every entry point — the ``sgbm-redcap`` commands, the demo, the scheduler — calls these and
nothing else, so that one job is wired once::

    from sgbm_redcap import jobs
    study = jobs.load_study()                      # settings + redcap_project/
    jobs.pull(study, out_dir=Path("tables"))       # typed tables (and Parquet files)
    jobs.sweep(study, dry_run=True)                # pull → checks → queries → listings
    jobs.checks(study)                             # CheckResult: findings, failed, skipped
    jobs.redcap_dq(study)                          # REDCap's Data Quality rules A-I, custom
    jobs.monthly_report(study, out_dir=Path("out"), cutoff=date(2026, 10, 31))

Modules: ``study`` (the :class:`Study` handle), ``connection`` (where records come from),
``guards`` (checks at the door: outputs, cut-off), one module per family of jobs, and
``synthetic`` (the only import of the synthetic cohort)."""

from __future__ import annotations

from sgbm_redcap.jobs.checks import checks, eligibility, rule_catalogue, rule_catalogue_markdown
from sgbm_redcap.jobs.connection import (
    SANDBOX_BANNER,
    Connection,
    connect,
    embedded_sandbox,
    make_backend,
    settings_backend,
    study_dictionary,
)
from sgbm_redcap.jobs.cuts import DIFF_FORMATS as CUT_DIFF_FORMATS
from sgbm_redcap.jobs.cuts import create_cut, diff_cuts, open_cut
from sgbm_redcap.jobs.demo import DemoResult, run_demo
from sgbm_redcap.jobs.dictionary import LEVEL_ORDER as DIFF_LEVELS
from sgbm_redcap.jobs.dictionary import LintRun, ProjectXml
from sgbm_redcap.jobs.dictionary import build_xml as build_project_xml
from sgbm_redcap.jobs.dictionary import diff as diff_dictionaries
from sgbm_redcap.jobs.dictionary import lint as lint_dictionaries
from sgbm_redcap.jobs.monitor import MonitorFiles, monitor
from sgbm_redcap.jobs.pull import pull
from sgbm_redcap.jobs.redcap_dq import dq_summary_text, redcap_dq
from sgbm_redcap.jobs.reports import (
    codebook,
    monthly_report,
    previous_month_end,
    quality_report,
    site_listings,
)
from sgbm_redcap.jobs.sandbox import create_project as create_sandbox_project
from sgbm_redcap.jobs.sandbox import sandbox_server, sandbox_url, serve_until_interrupted
from sgbm_redcap.jobs.sandbox import seed as seed_sandbox
from sgbm_redcap.jobs.schedule import study_scheduler
from sgbm_redcap.jobs.study import Study, load_study
from sgbm_redcap.jobs.sweep import DEFAULT_AUDIT_LOG, DEFAULT_LOCK, sweep
from sgbm_redcap.scheduler import JsonFormatter

#: the demo job under its job name
demo = run_demo

__all__ = [
    "CUT_DIFF_FORMATS", "DEFAULT_AUDIT_LOG", "DEFAULT_LOCK", "DIFF_LEVELS", "SANDBOX_BANNER", "Connection",
    "DemoResult", "JsonFormatter", "MonitorFiles", "monitor", "LintRun", "ProjectXml", "Study", "build_project_xml",
    "checks", "codebook", "connect", "create_cut", "create_sandbox_project", "demo",
    "diff_cuts", "diff_dictionaries", "dq_summary_text", "open_cut", "redcap_dq",
    "eligibility", "embedded_sandbox", "lint_dictionaries", "load_study", "make_backend",
    "monthly_report", "previous_month_end", "pull", "quality_report", "rule_catalogue",
    "rule_catalogue_markdown", "run_demo", "sandbox_server", "sandbox_url", "seed_sandbox",
    "serve_until_interrupted", "settings_backend", "site_listings", "study_dictionary",
    "study_scheduler", "sweep",
]
