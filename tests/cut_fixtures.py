"""Data cuts made from flat frames (no REDCap), for the cut tests: the same files
``cut create`` writes, with a chosen creation time, log and project info."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from sgbm_redcap.cuts import Cut, CutContent, write_cut
from sgbm_redcap.cuts.create import dictionary_csv, project_setup
from sgbm_redcap.dictionary.project import StudyProject


def cut_from_frame(folder: Path, raw: pd.DataFrame, project: StudyProject, *, cutoff: date,
                   created: datetime, previous: Cut | None = None,
                   log: list[dict[str, Any]] | None = None, watermark: str = "",
                   project_id: int | str = 7, metadata_csv: str | None = None,
                   replace: bool = False) -> Cut:
    content = CutContent(
        raw=raw.astype(str), metadata_csv=metadata_csv or dictionary_csv(project.dictionary),
        setup=project_setup(project.repeating_forms, project.dags,
                            {"project_id": project_id, "project_title": project.title,
                             "missing_data_codes": project.missing_codes.to_project_info()}),
        log_entries=log, source="test frames",
        pulled_at=created.isoformat(timespec="seconds"), watermark=watermark,
        log_since=str((previous.info.get("watermark") if previous else "") or ""))
    files = content.files(cutoff=cutoff, project=project, previous=previous,
                          created_at=created)
    return write_cut(folder, files, replace=replace)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)
