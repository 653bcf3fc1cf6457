"""Making a data cut: everything a report needs, pulled once and frozen.

:func:`collect` reads a source — REDCap (``RedcapSource``: a full pull, the metadata and
project setup it exported, the project info and the log since the previous cut) or an export
file (``FileSource``: the file's rows and the study's dictionary; no log) — into the files of
a cut; :func:`sgbm_redcap.cuts.store.write_cut` writes them. The token stays in the source's
client: nothing here reads it, and no file of a cut holds it.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from importlib import metadata
from typing import Any

import pandas as pd

from sgbm_redcap.cuts.store import (
    CUT,
    FORMAT,
    LOG,
    METADATA,
    PROJECT,
    RECORDS,
    Cut,
    json_file,
    log_file,
    records_csv,
    sha256_bytes,
)
from sgbm_redcap.dictionary.model import COLUMNS, Dictionary
from sgbm_redcap.dictionary.project import StudyProject
from sgbm_redcap.source import FileSource, RedcapSource
from sgbm_redcap.source.files import read_records_file
from sgbm_redcap.source.tables import normalise_raw

log = logging.getLogger(__name__)

#: the packages whose versions a cut records (what the analyses and reports ran on)
PACKAGES = ("sgbm-redcap", "pandas", "numpy", "scipy", "lifelines", "matplotlib", "jinja2",
            "weasyprint", "PyCap", "pyarrow")


def installed_versions(names: tuple[str, ...] = PACKAGES) -> list[list[str]]:
    out = []
    for name in names:
        try:
            out.append([name, metadata.version(name)])
        except metadata.PackageNotFoundError:
            out.append([name, "not installed"])
    return out


@dataclass
class CutContent:
    """What a cut will hold, before it is written."""

    raw: pd.DataFrame
    metadata_csv: str
    setup: dict[str, Any]
    log_entries: list[dict[str, Any]] | None
    source: str
    pulled_at: str
    watermark: str
    log_since: str

    def files(self, *, cutoff: date, project: StudyProject, previous: Cut | None,
              created_at: datetime | None = None) -> dict[str, bytes]:
        """The bytes of every file of the cut (cut.json last: it names the others' facts)."""
        records = records_csv(self.raw)
        metadata_bytes = self.metadata_csv.encode("utf-8")
        created = (created_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        rid = self.raw.columns[0] if len(self.raw.columns) else ""
        info = self.setup.get("project_info") or {}
        facts = {
            "format": FORMAT,
            "cutoff": cutoff.isoformat(),
            "created_at": created.isoformat(timespec="seconds"),
            "pulled_at": self.pulled_at,
            "source": self.source,
            "study": {"short_name": project.short_name, "nct": project.nct,
                      "title": project.title},
            "project_id": str(info.get("project_id", "") or ""),
            "project_title": str(info.get("project_title", "") or ""),
            "record_id": rid,
            "dictionary_version": project.version,
            "metadata_sha256": sha256_bytes(metadata_bytes),
            "n_records": int(self.raw[rid].nunique()) if rid else 0,
            "n_rows": len(self.raw),
            "watermark": self.watermark,
            "log": {"available": self.log_entries is not None, "since": self.log_since,
                    "entries": len(self.log_entries or [])},
            "previous": None if previous is None else {
                "folder": previous.path.name, "cutoff": previous.info["cutoff"],
                "created_at": previous.info["created_at"],
                "manifest_sha256": previous.manifest_sha256},
            "packages": dict(installed_versions()),
        }
        return {RECORDS: records, METADATA: metadata_bytes, PROJECT: json_file(self.setup),
                LOG: log_file(self.log_entries), CUT: json_file(facts)}


def collect(source: RedcapSource | FileSource, *, project: StudyProject,
            previous: Cut | None) -> CutContent:
    """Read everything a cut holds from ``source``."""
    if isinstance(source, FileSource):
        return _from_file(source, project)
    return _from_redcap(source, previous)


def _from_redcap(source: RedcapSource, previous: Cut | None) -> CutContent:
    pull = source.pull(full=True)  # a cut never depends on a cache's merges
    raw = source.pulled_rows()  # typed later, from the cut, by whoever reads it
    since_text = str(previous.info.get("watermark", "")) if previous is not None else ""
    since = _log_time(since_text)
    entries = source.project_log(begin_time=since)
    return CutContent(raw=raw, metadata_csv=source.metadata_csv,
                      setup={"project_info": source.project_info(),
                             **source.project_setup()},
                      log_entries=entries, source=source.url,
                      pulled_at=pull.pulled_at, watermark=pull.watermark,
                      log_since=since_text if since is not None else "")


def dictionary_csv(dictionary: Dictionary) -> str:
    """A dictionary as the metadata CSV a cut stores (REDCap's 18 columns)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(dictionary.to_rows())
    return buf.getvalue()


def project_setup(repeating_forms: list[str], dags: list[tuple[str, str]],
                  project_info: dict[str, Any] | None = None) -> dict[str, Any]:
    """project.json for a source that has no API to ask (an export file)."""
    return {"project_info": dict(project_info or {}),
            "repeating": [{"form_name": f, "custom_form_label": ""} for f in repeating_forms],
            "dags": [{"unique_group_name": u, "data_access_group_name": label}
                     for u, label in dags], "event_mapping": []}


def _from_file(source: FileSource, project: StudyProject) -> CutContent:
    dictionary = source.dictionary
    raw = normalise_raw(read_records_file(source.records_path), dictionary.record_id,
                        source=str(source.records_path))
    return CutContent(
        raw=raw, metadata_csv=dictionary_csv(dictionary),
        setup=project_setup(source.repeating_forms or project.repeating_forms, project.dags,
                            {"missing_data_codes": (source.missing_codes
                                                    or project.missing_codes).to_project_info()}),
        log_entries=None, source=str(source.records_path),
        pulled_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), watermark="",
        log_since="")


def _log_time(text: str) -> datetime | None:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None
