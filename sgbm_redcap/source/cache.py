"""The local cache of a pull: the raw flat export (Parquet) plus what the next sweep needs.

Layout of ``cache_dir``::

    records.parquet   the flat export, all strings ('' = blank)
    metadata.csv      the project's metadata as exported (the dictionary the rows match)
    state.json        url, watermark (REDCap's clock), pulled_at (ours, UTC), project setup

Writes are atomic (temporary file + rename) under a file lock, so an interrupted pull leaves
the previous cache intact. The token is never written here.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock

from sgbm_redcap.errors import SourceDataError

RECORDS = "records.parquet"
METADATA = "metadata.csv"
STATE = "state.json"
FORMAT_VERSION = 1


@dataclass
class CacheState:
    url: str
    watermark: str  # REDCap server time, "%Y-%m-%d %H:%M:%S": next dateRangeBegin
    pulled_at: str  # our clock, UTC ISO 8601
    metadata_sha256: str
    repeating: list[dict[str, Any]] = field(default_factory=list)
    dags: list[dict[str, Any]] = field(default_factory=list)
    event_mapping: list[dict[str, Any]] = field(default_factory=list)
    #: log entries at the watermark's minute that the cached rows already reflect, so the next
    #: sweep does not fetch those records again (REDCap logs to the minute)
    seen_at_watermark: list[list[str]] = field(default_factory=list)
    format_version: int = FORMAT_VERSION


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class PullCache:
    """Read and write one project's cached pull."""

    def __init__(self, cache_dir: str | os.PathLike[str]):
        self.dir = Path(cache_dir)
        self._lock = FileLock(str(self.dir / ".lock")) if self.dir.exists() else None

    def _locked(self) -> FileLock:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._lock is None:
            self._lock = FileLock(str(self.dir / ".lock"))
        return self._lock

    def load(self) -> tuple[CacheState, pd.DataFrame, str] | None:
        """(state, raw records, metadata csv), or None when there is no usable cache."""
        state_file = self.dir / STATE
        if not state_file.is_file():
            return None
        with self._locked():
            try:
                state = CacheState(**json.loads(state_file.read_text(encoding="utf-8")))
                raw = pd.read_parquet(self.dir / RECORDS)
                metadata = (self.dir / METADATA).read_text(encoding="utf-8")
            except (OSError, ValueError, TypeError) as exc:
                raise SourceDataError(
                    f"The pull cache in {self.dir} cannot be read ({exc}). Delete the folder or "
                    "run a full pull (--full) to rebuild it.",
                    file=str(self.dir),
                ) from exc
        if state.format_version != FORMAT_VERSION:
            return None
        return state, raw.astype(str), metadata

    def save(self, state: CacheState, raw: pd.DataFrame, metadata_csv: str) -> None:
        with self._locked():
            _atomic_write(self.dir / METADATA, metadata_csv.encode("utf-8"))
            tmp = self.dir / (RECORDS + ".tmp")
            raw.astype(str).to_parquet(tmp, index=False)
            os.replace(tmp, self.dir / RECORDS)
            _atomic_write(self.dir / STATE, json.dumps(asdict(state), indent=2).encode("utf-8"))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
