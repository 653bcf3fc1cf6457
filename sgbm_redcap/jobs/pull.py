"""The pull job: the study's records from REDCap (incrementally after the first pull) into
typed tables, optionally written as one Parquet file per instrument."""

from __future__ import annotations

from pathlib import Path

from sgbm_redcap.jobs.guards import writable_dir
from sgbm_redcap.jobs.study import Study
from sgbm_redcap.source import RedcapSource
from sgbm_redcap.source.tables import StudyTables


def pull(study: Study, *, full: bool = False, out_dir: Path | None = None) -> StudyTables:
    """Pull ``study``'s records (``full``: every record, not only the changed ones); with
    ``out_dir``, write ``<instrument>.parquet`` and ``type_problems.csv`` there."""
    if out_dir is not None:
        writable_dir(out_dir)
    with study.connect(progress=None) as conn:
        source = conn.source
        tables = source.tables(full=full) if isinstance(source, RedcapSource) else \
            source.tables()
    if out_dir is not None:
        write_tables(tables, out_dir)
    return tables


def write_tables(tables: StudyTables, out_dir: Path) -> list[Path]:
    """One Parquet file per instrument and ``type_problems.csv`` in ``out_dir``."""
    out = writable_dir(out_dir)
    paths = []
    for form, table in tables.items():
        table.to_parquet(out / f"{form}.parquet", index=False)
        paths.append(out / f"{form}.parquet")
    tables.type_problems.to_csv(out / "type_problems.csv", index=False)
    return [*paths, out / "type_problems.csv"]
