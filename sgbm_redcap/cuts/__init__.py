"""Data cuts (issue 15): every report frozen with the data it saw, re-rendered byte for
byte, and compared with the last one.

::

    from sgbm_redcap.cuts import collect, write_cut, read_cut, diff_cuts
    content = collect(source, project=project, previous=latest_cut(Path("cuts")))
    cut = write_cut(Path("cuts/2026-10-31"), content.files(cutoff=..., project=...,
                                                             previous=...))
    cut = read_cut("cuts/2026-10-31")      # verified against its manifest, or refused
    cut.tables()                           # StudyTables from the cut alone
    diff = diff_cuts(read_cut(a), read_cut(b))
    diff.summary(); diff.to_dict(); diff.rows()

Layout and rules: :mod:`sgbm_redcap.cuts.store`; what a diff holds:
:mod:`sgbm_redcap.cuts.diff`. The jobs are ``jobs.create_cut`` and ``jobs.diff_cuts``.
"""

from __future__ import annotations

from sgbm_redcap.cuts.create import CutContent, collect, installed_versions
from sgbm_redcap.cuts.diff import CHANGE_COLUMNS, CRITICAL_FIELDS, CutDiff, diff_cuts
from sgbm_redcap.cuts.store import (
    FILES,
    MANIFEST,
    Cut,
    CutProvenance,
    latest_cut,
    read_cut,
    refuse_existing,
    write_cut,
)

__all__ = ["CHANGE_COLUMNS", "CRITICAL_FIELDS", "FILES", "MANIFEST", "Cut", "CutContent",
           "CutDiff", "CutProvenance", "collect", "diff_cuts", "installed_versions",
           "latest_cut", "read_cut", "refuse_existing", "write_cut"]
