"""Project metadata (as REDCap's API or a file gives it) → the toolkit's Dictionary."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from sgbm_redcap.dictionary.model import COLUMNS
from sgbm_redcap.errors import DictionaryError

#: The API metadata keys in the dictionary CSV's 18-column order (one definition, in
#: the dictionary package).
METADATA_KEYS = COLUMNS


def metadata_rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """API metadata rows (JSON) as the CSV the API would have sent."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(METADATA_KEYS)
    for row in rows:
        writer.writerow([str(row.get(k, "") or "") for k in METADATA_KEYS])
    return buf.getvalue()


def metadata_csv_to_rows(text: str) -> list[dict[str, str]]:
    """The API metadata rows back from ``metadata_rows_to_csv``'s CSV."""
    return list(csv.DictReader(io.StringIO(text)))


def dictionary_from_text(text: str, *, source: str = "<metadata>") -> Any:
    """A Dictionary from a dictionary/metadata CSV text or a JSON metadata export."""
    from sgbm_redcap.dictionary import load_dictionary

    stripped = text.lstrip("\ufeff").lstrip()
    if stripped.startswith("["):
        try:
            rows = json.loads(stripped)
        except ValueError as exc:
            raise DictionaryError(f"Metadata JSON cannot be parsed: {exc}", file=source) from exc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DictionaryError("Metadata JSON must be a list of field objects", file=source)
        text = metadata_rows_to_csv(rows)
    return load_dictionary(text)


def load_dictionary_file(path: str | Path) -> Any:
    """A Dictionary from a file: a dictionary CSV (any REDCap variant) or a metadata JSON."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        return dictionary_from_text(p.read_text(encoding="utf-8-sig"), source=str(p))
    from sgbm_redcap.dictionary import load_dictionary

    return load_dictionary(p)
