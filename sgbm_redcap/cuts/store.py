"""A data cut on disk: one folder holding everything a report saw, and a manifest.

::

    cuts/2026-10-31/
      records.csv     the flat export as pulled (raw strings, REDCap's record order)
      metadata.csv    the project's metadata (the data dictionary REDCap had)
      project.json    the project setup: project info, repeating instruments, DAGs, events
      log.json        REDCap's log since the previous cut (export_logging), or the whole log
      cut.json        the cut's facts: cut-off, when and from where, study, dictionary
                      version, previous cut, toolkit and package versions
      manifest.json   the sha256 and size of every file above

A cut is study data, protected like the pull cache: the folder is mode 700, every file 600.
It never holds the API token. It is written into a temporary folder beside its place and
renamed there once complete, so a cut folder is either whole or absent; an existing cut is
replaced only when asked. Reading a cut checks every file against the manifest first: a
file changed, added or missing since the cut was made is refused, naming it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from sgbm_redcap.dictionary.missing import parse_missing_codes
from sgbm_redcap.dictionary.model import Dictionary
from sgbm_redcap.errors import CutIntegrityError, OutputError
from sgbm_redcap.source.metadata import dictionary_from_text
from sgbm_redcap.source.tables import StudyTables, build_tables

log = logging.getLogger(__name__)

FORMAT = 1
RECORDS = "records.csv"
METADATA = "metadata.csv"
PROJECT = "project.json"
LOG = "log.json"
CUT = "cut.json"
MANIFEST = "manifest.json"
#: the files of a cut, in the order the manifest lists them
FILES = (RECORDS, METADATA, PROJECT, LOG, CUT)
DIR_MODE, FILE_MODE = 0o700, 0o600

EXISTS_HELP = ("a data cut already exists in {path} (cut-off {cutoff}, made {created}); "
               "render from it with --cut {path}, or pass --replace to make it again")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def records_csv(raw: pd.DataFrame) -> bytes:
    """A raw flat export as CSV bytes (strings as they are, '' for blank, '\\n' rows)."""
    return raw.to_csv(index=False, lineterminator="\n").encode("utf-8")


@dataclass(frozen=True)
class CutProvenance:
    """What a report says about where its data came from (``StudyTables.pull`` of a cut):
    the same attribute names as a pull's provenance, plus the cut's own."""

    url: str
    pulled_at: str
    mode: str
    cut_path: str
    manifest_sha256: str
    cutoff: str


class Cut:
    """A data cut read from its folder, verified against its manifest (``read_cut``)."""

    def __init__(self, path: Path, manifest: dict[str, Any], manifest_sha256: str):
        self.path = path
        self.manifest = manifest
        #: the sha256 of manifest.json: the cut's fingerprint, named on the report's cover
        self.manifest_sha256 = manifest_sha256

    def __repr__(self) -> str:
        return f"Cut({str(self.path)!r}, cutoff={self.cutoff}, {self.manifest_sha256[:12]})"

    def _bytes(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    def _json(self, name: str) -> Any:
        return json.loads(self._bytes(name).decode("utf-8"))

    @cached_property
    def info(self) -> dict[str, Any]:
        """cut.json: the cut's facts."""
        return dict(self._json(CUT))

    @property
    def cutoff(self) -> date:
        return date.fromisoformat(self.info["cutoff"])

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.info["created_at"])

    @property
    def pulled_at(self) -> datetime | None:
        """When the records were pulled (UTC), None when not known."""
        text = str(self.info.get("pulled_at") or "")
        try:
            return datetime.fromisoformat(text) if text else None
        except ValueError:
            return None

    @property
    def short_hash(self) -> str:
        return self.manifest_sha256[:12]

    @cached_property
    def setup(self) -> dict[str, Any]:
        """project.json: project info, repeating instruments, DAGs, event mapping."""
        return dict(self._json(PROJECT))

    @cached_property
    def log_entries(self) -> list[dict[str, Any]] | None:
        """The REDCap log slice (newest first, as REDCap gives it), None when the cut's
        source had no log to give (an export file, or no Logging right)."""
        entries = self._json(LOG)
        return None if entries is None else list(entries)

    @cached_property
    def metadata_csv(self) -> str:
        return self._bytes(METADATA).decode("utf-8")

    @cached_property
    def dictionary(self) -> Dictionary:
        return dictionary_from_text(self.metadata_csv, source=str(self.path / METADATA))

    def raw(self) -> pd.DataFrame:
        """The flat export as it was pulled (strings, '' for blank)."""
        return pd.read_csv(self.path / RECORDS, dtype=str, keep_default_na=False,
                           na_filter=False)

    @property
    def repeating_forms(self) -> list[str]:
        return [str(r.get("form_name", "")) for r in self.setup.get("repeating", [])]

    @property
    def dags(self) -> list[tuple[str, str]]:
        return [(str(d.get("unique_group_name", "")), str(d.get("data_access_group_name", "")))
                for d in self.setup.get("dags", [])]

    @property
    def description(self) -> str:
        """Where a report from this cut says its data come from."""
        return (f"data cut {self.path.name} (cut-off {self.cutoff.isoformat()}) of "
                f"{self.info.get('source') or 'an unnamed source'}")

    def tables(self) -> StudyTables:
        """The cut's records typed with the cut's own dictionary: the tables a report of
        this cut is made from (nothing is read from REDCap)."""
        event_forms: dict[str, set[str]] | None = None
        for row in self.setup.get("event_mapping", []):
            event_forms = event_forms or {}
            event_forms.setdefault(str(row.get("unique_event_name", "")), set()).add(
                str(row.get("form", "")))
        provenance = CutProvenance(url=self.description, pulled_at=self.info["pulled_at"],
                                   mode="cut", cut_path=str(self.path),
                                   manifest_sha256=self.manifest_sha256,
                                   cutoff=self.info["cutoff"])
        return build_tables(self.raw(), self.dictionary, repeating_forms=self.repeating_forms,
                            event_forms=event_forms, pull=provenance,
                            source=str(self.path / RECORDS),
                            missing_codes=parse_missing_codes(str(
                                (self.setup.get("project_info") or {}).get(
                                    "missing_data_codes") or "")))


def read_cut(path: str | os.PathLike[str]) -> Cut:
    """The cut in ``path``, after checking every file against the manifest: a missing
    manifest, a file missing, changed or not in the manifest is refused
    (``CutIntegrityError`` naming the file)."""
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not folder.is_dir():
        raise CutIntegrityError(f"{folder} is not a data cut: no such folder; give the folder "
                                f"'cut create' wrote", path=str(folder))
    try:
        data = manifest_path.read_bytes()
        manifest = json.loads(data.decode("utf-8"))
        listed = dict(manifest["files"])
    except FileNotFoundError:
        raise CutIntegrityError(f"{folder} is not a data cut: it has no {MANIFEST}",
                                path=str(folder), file=MANIFEST) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CutIntegrityError(f"the {MANIFEST} of the data cut {folder} cannot be read "
                                f"({exc}); the cut cannot be trusted, make it again",
                                path=str(folder), file=MANIFEST) from None
    present = {p.name for p in folder.iterdir() if p.name != MANIFEST}
    for name in sorted(present - set(listed)):
        raise CutIntegrityError(f"data cut {folder}: {name} is not in the manifest (added "
                                "after the cut was made); the cut is refused",
                                path=str(folder), file=name)
    for name, entry in listed.items():
        file = folder / name
        if not file.is_file():
            raise CutIntegrityError(f"data cut {folder}: {name} is missing (the manifest "
                                    "lists it); the cut is refused", path=str(folder),
                                    file=name)
        if sha256_bytes(file.read_bytes()) != entry.get("sha256"):
            raise CutIntegrityError(f"data cut {folder}: {name} does not match its sha256 in "
                                    "the manifest (changed after the cut was made); the cut "
                                    "is refused", path=str(folder), file=name)
    return Cut(folder, manifest, sha256_bytes(data))


def is_cut(path: Path) -> bool:
    return (path / MANIFEST).is_file() and (path / CUT).is_file()


def cuts_in(root: Path) -> Iterator[Path]:
    """The cut folders directly in ``root`` (not verified), by name."""
    if root.is_dir():
        yield from sorted(p for p in root.iterdir() if p.is_dir() and is_cut(p))


def latest_cut(root: Path, *, exclude: Path | None = None) -> Cut | None:
    """The most recently made cut in ``root`` (by its creation time), verified, or None.
    ``exclude``: a folder not to consider (the cut about to be replaced)."""
    found: list[tuple[str, Path]] = []
    for folder in cuts_in(root):
        if exclude is not None and folder.resolve() == exclude.resolve():
            continue
        try:
            created = json.loads((folder / CUT).read_text(encoding="utf-8"))["created_at"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append((str(created), folder))
    return read_cut(max(found)[1]) if found else None


def refuse_existing(folder: Path, *, replace: bool) -> None:
    """An existing cut in ``folder`` is an error unless ``replace`` (checked before any
    work, and again just before the rename)."""
    if replace or not folder.exists():
        return
    try:
        info = json.loads((folder / CUT).read_text(encoding="utf-8"))
        cutoff, created = info.get("cutoff", "?"), info.get("created_at", "?")
    except (OSError, ValueError):
        if any(folder.iterdir()):
            raise OutputError(f"{folder} exists and is not an empty folder; pick another "
                              "--out, or pass --replace to make the cut there",
                              path=str(folder), option="--out") from None
        return
    raise OutputError(EXISTS_HELP.format(path=folder, cutoff=cutoff, created=created),
                      path=str(folder), option="--out")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, FILE_MODE)


def write_cut(folder: Path, files: dict[str, bytes], *, replace: bool = False) -> Cut:
    """Write ``files`` (name → bytes, the names of ``FILES``) and their manifest into
    ``folder`` atomically: a temporary folder beside it, renamed into place when complete."""
    refuse_existing(folder, replace=replace)
    parent = folder.parent
    if not parent.exists():
        parent.mkdir(parents=True, mode=DIR_MODE)
    tmp = parent / f".{folder.name}.incomplete-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(mode=DIR_MODE)
    os.chmod(tmp, DIR_MODE)
    try:
        entries = {}
        for name in FILES:
            data = files[name]
            _write_private(tmp / name, data)
            entries[name] = {"sha256": sha256_bytes(data), "bytes": len(data)}
        manifest = {"format": FORMAT, "algorithm": "sha256", "files": entries}
        _write_private(tmp / MANIFEST, _json_bytes(manifest))
        refuse_existing(folder, replace=replace)
        old = parent / f".{folder.name}.replaced-{os.getpid()}"
        if folder.exists():
            os.rename(folder, old)
        os.rename(tmp, folder)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("data cut written to %s", folder)
    return read_cut(folder)


def json_file(value: Any) -> bytes:
    """The bytes a cut stores for a JSON file."""
    return _json_bytes(value)


def log_file(entries: list[dict[str, Any]] | None) -> bytes:
    """log.json: a JSON list with one entry a line (compact: a long log stays small)."""
    if entries is None:
        return b"null\n"
    lines = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in entries]
    return ("[\n" + ",\n".join(lines) + "\n]\n").encode("utf-8")
