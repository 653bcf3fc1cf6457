"""Central monitoring (issue 17): key risk indicators per site, tolerance limits, the
audit-trail review and query ageing, from what REDCap already records (the pulled tables,
the data queries and the project log). Pure functions over DataFrames; the dashboard that
shows them is :mod:`sgbm_redcap.reports.dashboard`. See docs/monitoring.md.
"""

from __future__ import annotations

from sgbm_redcap.monitoring.ageing import BUCKET_LABELS, Ageing, query_ageing
from sgbm_redcap.monitoring.sites import Sites, study_sites

__all__ = ["Ageing", "BUCKET_LABELS", "Sites", "query_ageing", "study_sites"]
