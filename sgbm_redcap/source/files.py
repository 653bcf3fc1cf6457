"""FileSource: the same tidy tables from a REDCap export file, for offline work."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from sgbm_redcap.dictionary.missing import NO_CODES, MissingCodes
from sgbm_redcap.errors import SourceDataError
from sgbm_redcap.source.metadata import load_dictionary_file
from sgbm_redcap.source.tables import StudyTables, build_tables

log = logging.getLogger(__name__)

LABEL_EXPORT_HINT = (
    "If this is a 'CSV (labels)' export, export again as 'CSV (raw data)' or through the API "
    "with rawOrLabelHeaders=raw: the headers must be variable names."
)


def read_records_file(path: str | Path) -> pd.DataFrame:
    """A flat records export (CSV or JSON) as strings, '' for blank."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise SourceDataError(f"Cannot read records file {p}: {exc}", file=str(p)) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        log.warning("%s is not UTF-8; reading it as Windows-1252", p)
        text = data.decode("cp1252")
    if p.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        return _records_from_json(text, p)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                            na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SourceDataError(f"{p} is not a readable CSV export: {exc}", file=str(p)) from exc
    _refuse_eav(frame, p)
    return frame


def _records_from_json(text: str, p: Path) -> pd.DataFrame:
    try:
        rows = json.loads(text)
    except ValueError as exc:
        raise SourceDataError(f"{p} is not valid JSON: {exc}", file=str(p)) from exc
    if isinstance(rows, dict) and "error" in rows:
        raise SourceDataError(f"{p} holds a REDCap error, not records: {rows['error']}",
                              file=str(p))
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise SourceDataError(f"{p}: a JSON records export is a list of objects", file=str(p))
    frame = pd.DataFrame(rows)
    frame = frame.astype(object).where(frame.notna(), "").astype(str)
    _refuse_eav(frame, p)
    return frame


def _refuse_eav(frame: pd.DataFrame, p: Path) -> None:
    if {"field_name", "value"} <= set(frame.columns) and "record" in frame.columns:
        raise SourceDataError(
            f"{p} is an EAV export (record, field_name, value); export the records as 'flat'",
            file=str(p))


class FileSource:
    """Typed tables from a records export and its data dictionary.

    Args:
        records: path of a flat records export (CSV or JSON, raw values).
        dictionary: path of the data dictionary (CSV in any REDCap variant, or API metadata
            JSON), or an already loaded ``Dictionary``.
        repeating_forms: repeating instruments, when the export alone cannot show them
            (instruments named in ``redcap_repeat_instrument`` are always repeating).
    """

    def __init__(self, records: str | Path, dictionary: str | Path | Any,
                 *, repeating_forms: list[str] | None = None,
                 missing_codes: MissingCodes = NO_CODES):
        self.records_path = Path(records)
        self.dictionary = (load_dictionary_file(dictionary)
                           if isinstance(dictionary, (str, Path)) else dictionary)
        self.repeating_forms = list(repeating_forms or [])
        self.missing_codes = missing_codes

    def __repr__(self) -> str:
        return f"FileSource({str(self.records_path)!r})"

    def tables(self) -> StudyTables:
        raw = read_records_file(self.records_path)
        rid = self.dictionary.record_id
        if rid not in raw.columns:
            raise SourceDataError(
                f"{self.records_path} has no column {rid!r} (the dictionary's record id "
                f"field). {LABEL_EXPORT_HINT}",
                file=str(self.records_path), column=rid)
        return build_tables(raw, self.dictionary, repeating_forms=self.repeating_forms,
                            source=str(self.records_path), missing_codes=self.missing_codes)
