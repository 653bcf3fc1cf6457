"""RedcapSource: the study's records from a REDCap server, in batches, incrementally.

The first pull (or ``full=True``) exports every record in batches of ``batch_size``. It keeps a
*watermark*: the newest timestamp in REDCap's own project log when the pull began, i.e. a time
on the server's clock (never ours: a server in another time zone would otherwise make a
sweep miss changes). A sweep then asks for the records changed since the watermark
(``dateRangeBegin``), confirms that list against the project log (``export_logging``:
records the log names are fetched even if the date filter missed them, and records that
come back empty were deleted), re-exports just those records and merges them into the local
cache. A change of the project's metadata forces a full pull, because cached rows would no
longer match the dictionary.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from sgbm_redcap.config import Settings
from sgbm_redcap.dictionary.missing import parse_missing_codes
from sgbm_redcap.dictionary.model import record_sort_key
from sgbm_redcap.errors import (
    RedcapApiError,
    RedcapAuthError,
    RedcapConnectionError,
    SourceDataError,
)
from sgbm_redcap.source.cache import CacheState, PullCache, sha256
from sgbm_redcap.source.client import RedcapClient, Traffic, check_url
from sgbm_redcap.source.csvread import read_export_csv, read_export_pandas, to_raw_frame
from sgbm_redcap.source.metadata import (
    dictionary_from_text,
    metadata_csv_to_rows,
    metadata_rows_to_csv,
)
from sgbm_redcap.source.tables import StudyTables, build_tables, normalise_raw

log = logging.getLogger(__name__)

WATERMARK_FORMAT = "%Y-%m-%d %H:%M:%S"
#: Any server's local time lies within UTC-12..UTC+14: a log window starting this long before
#: UTC now always contains the server's "now", whatever its time zone.
_CLOCK_WINDOW = timedelta(hours=15)
NO_LOG_RIGHT = (
    "REDCap refused the project log (%s). Without the 'Logging' user right, sweeps re-read "
    "every record changed in the last 15 hours and cannot see deleted records; ask the "
    "project's administrator for the Logging right, or pull with --full now and then."
)
_RECORD_IN_ACTION = re.compile(r"record\s+(\S+)", re.I)


@dataclass
class Pull:
    """What a pull did (the provenance reports print; never holds the token)."""

    mode: str  # "full" or "incremental"
    url: str
    pulled_at: str  # our clock, UTC
    watermark: str  # REDCap's clock: the next sweep's dateRangeBegin
    n_records: int = 0
    changed_records: list[str] = field(default_factory=list)
    deleted_records: list[str] = field(default_factory=list)
    batches: int = 0
    elapsed_s: float = 0.0
    traffic: Traffic = field(default_factory=Traffic)
    reason: str = ""  # why a full pull was chosen
    #: why the metadata was exported ('' = not exported: the log showed no design change
    #: since the last pull, so the cached dictionary was used)
    metadata_exported: str = ""


def _parse_log_time(text: str) -> datetime | None:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(str(text).strip(), fmt)
        except ValueError:
            continue
    return None


def _log_record(entry: dict[str, Any]) -> str | None:
    rec = str(entry.get("record") or "").strip()
    if rec:
        return rec
    match = _RECORD_IN_ACTION.search(str(entry.get("action", "")))
    return match.group(1) if match else None


def _read_csv(text: str) -> pd.DataFrame:
    if not text.strip():
        return pd.DataFrame()
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)


def _batches(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class RedcapSource:
    """The study's records from REDCap, as typed tidy tables.

    Args:
        url: REDCap API URL (ends in ``/api/``); default ``settings.redcap_url``.
        token: the API token; default: from ``SGBM_REDCAP_TOKEN`` or the keyring
            (``Settings.token()``). Never pass a token read from a file in the repository.
        settings: timeouts, retries, batch size, cache folder (``sgbm_redcap.config``).
        cache_dir: where pulls are cached; None = ``settings.cache_dir``; False = no cache
            (every pull is full).
        progress: show a progress bar; None = only when stderr is a terminal.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        settings: Settings | None = None,
        cache_dir: str | Path | None | bool = None,
        batch_size: int | None = None,
        progress: bool | None = None,
    ):
        self.settings = settings or Settings()
        self.url = check_url(url or self.settings.redcap_url)  # before anything else
        if token is None:
            token = dataclasses.replace(self.settings, redcap_url=self.url).token()
        self.client = RedcapClient(
            self.url,
            token,
            timeout_s=self.settings.timeout_s,
            retries=self.settings.retries,
            backoff_s=self.settings.backoff_s,
            verify_tls=self.settings.verify_tls,
        )
        self.batch_size = batch_size or self.settings.batch_size
        if cache_dir is False:
            self.cache: PullCache | None = None
        else:
            self.cache = PullCache(cache_dir if cache_dir not in (None, True)
                                   else self.settings.cache_dir)  # type: ignore[arg-type]
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.last_pull: Pull | None = None
        self._raw: pd.DataFrame | None = None  # rows of the last full pull, still in memory
        self._state: CacheState | None = None
        self._metadata_csv = ""
        self._warned_no_log = False

    def __repr__(self) -> str:
        return f"RedcapSource(url={self.url!r}, token=<hidden>, batch_size={self.batch_size})"

    # -- public --------------------------------------------------------------------------

    def tables(self, *, full: bool = False) -> StudyTables:
        """Pull (incrementally when a cache exists, unless ``full``) and type the records."""
        pull = self.pull(full=full)
        raw = self._raw if self._raw is not None else self.cache.load_raw()  # type: ignore[union-attr]
        state = self._state
        dictionary = dictionary_from_text(self._metadata_csv, source=f"{self.url} metadata")
        tables = build_tables(
            raw,
            dictionary,
            repeating_forms=[r.get("form_name", "") for r in state.repeating],
            event_forms=_event_forms(state.event_mapping),
            pull=pull,
            source=self.url,
            normalised=True,  # normalise_raw made it (the pull's rows or the cache's)
            missing_codes=parse_missing_codes(state.missing_data_codes),
        )
        if self.cache is not None:
            self.cache.wait()  # the full pull's cache write ran while the tables were typed
        return tables

    def pull(self, *, full: bool = False) -> Pull:
        """Fetch what changed since the last pull (or everything) into the cache.

        A sweep only writes the rows it fetched; ``tables()`` reads the merged rows. A full
        pull's rows are written to the cache on a helper thread: ``tables()`` types them
        meanwhile and returns once the write is done; any later use of the cache waits too.
        """
        started = time.perf_counter()
        before = _snapshot(self.client.traffic)
        cached = None if (full or self.cache is None) else self.cache.load_state()
        reason = "requested" if full else ("no cache" if cached is None else "")
        if cached is not None and cached[0].url != self.url:
            reason, cached = "cache belongs to another project", None
        entries: list[dict[str, Any]] | None = None
        why = reason
        if cached is not None:
            since = datetime.strptime(cached[0].watermark, WATERMARK_FORMAT)
            entries = self._log(begin_time=since)
            why = _metadata_due(cached[0], entries, self.settings.metadata_check_every)
        if why or cached is None:
            self.client.refresh()
            metadata_csv = metadata_rows_to_csv(self.client.export_metadata())
            setup = (self.client.export_repeating(), self.client.export_dags(),
                     self.client.export_event_mapping(),
                     str(self.project_info().get("missing_data_codes") or ""))
            checked = 0
            # exported after the log was read: the design entries read are reflected in it
            design_seen = [_entry_key(e) for e in _design_entries(entries or [])]
            if cached is not None and cached[0].metadata_sha256 != sha256(metadata_csv):
                reason, cached = "metadata changed since the last pull", None
        else:  # the log shows no design change: the cached dictionary and setup still hold
            old, metadata_csv = cached
            self.client.refresh(metadata=metadata_csv_to_rows(metadata_csv))
            setup = (old.repeating, old.dags, old.event_mapping, old.missing_data_codes)
            checked = old.sweeps_since_metadata + 1
            design_seen = old.design_seen
        dictionary = dictionary_from_text(metadata_csv, source=f"{self.url} metadata")
        rid = dictionary.record_id
        state = CacheState(
            url=self.url,
            watermark="",
            pulled_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            metadata_sha256=sha256(metadata_csv),
            record_id=rid,
            repeating=setup[0],
            dags=setup[1],
            event_mapping=setup[2],
            missing_data_codes=setup[3],
            sweeps_since_metadata=checked,
            design_seen=design_seen if cached is not None else [],
        )
        if cached is None:
            pull = Pull("full", self.url, state.pulled_at, "", reason=reason)
            raw, table = self._full(rid, state, pull)
            state.records = sorted(set(raw[rid]), key=record_sort_key) if len(raw) else []
            if self.cache is not None:
                self.cache.save_full(state, raw, metadata_csv, table=table, background=True)
            self._raw = raw
        else:
            pull = Pull("incremental", self.url, state.pulled_at, "")
            fresh, replaced = self._incremental(rid, cached[0], state, pull, entries)
            self.cache.save_delta(state, fresh, replaced, cached[0])  # type: ignore[union-attr]
            self._raw = None
        self._state, self._metadata_csv = state, metadata_csv
        pull.metadata_exported = why or ""
        pull.watermark = state.watermark
        pull.n_records = len(state.records)
        pull.elapsed_s = time.perf_counter() - started
        pull.traffic = _delta(before, self.client.traffic)
        log.info("%s pull of %s: %d records (%d changed, %d deleted) in %d batches, %.1f s, "
                 "%d bytes", pull.mode, self.url, pull.n_records, len(pull.changed_records),
                 len(pull.deleted_records), pull.batches, pull.elapsed_s,
                 pull.traffic.bytes_total)
        self.last_pull = pull
        return pull

    # -- what a data cut records besides the rows (sgbm_redcap.cuts) ---------------------

    @property
    def metadata_csv(self) -> str:
        """The metadata (dictionary CSV) of the last pull; '' before any."""
        return self._metadata_csv

    def pulled_rows(self) -> pd.DataFrame:
        """The rows of the last pull as a normalised raw frame, untyped (what a data cut
        stores); waits for a background cache write first."""
        if self.cache is not None:
            self.cache.wait()
        if self._raw is not None:
            return self._raw
        if self.cache is None:
            raise SourceDataError("nothing has been pulled yet", file=self.url)
        return self.cache.load_raw()

    def project_setup(self) -> dict[str, list[dict[str, Any]]]:
        """The repeating instruments, DAGs and event mapping of the last pull."""
        state = self._state
        return {"repeating": list(state.repeating) if state else [],
                "dags": list(state.dags) if state else [],
                "event_mapping": list(state.event_mapping) if state else []}

    def project_info(self) -> dict[str, Any]:
        """REDCap's project information (``export_project_info``); {} when refused."""
        try:
            info = self.client.post("export_project_info", {"content": "project"},
                                    idempotent=True)
        except RedcapApiError as exc:
            if isinstance(exc, RedcapConnectionError):
                raise
            log.warning("REDCap refused the project information (%s)", exc)
            return {}
        return dict(info) if isinstance(info, dict) else {}

    def project_log(self, *, begin_time: datetime | None = None
                    ) -> list[dict[str, Any]] | None:
        """The project log since ``begin_time`` (REDCap's clock), or None without the
        Logging right."""
        return self._log(begin_time=begin_time)

    # -- full and incremental ------------------------------------------------------------

    def _full(self, rid: str, state: CacheState,
              pull: Pull) -> tuple[pd.DataFrame, pa.Table | None]:
        # Order matters: list the records (REDCap logs that export), read the watermark from
        # the log, then export the rows, so every change the watermark covers is in the rows.
        ids_frame = _read_csv(self.client.export_records_csv(fields=[rid]))
        ids = list(dict.fromkeys(ids_frame[rid])) if len(ids_frame) else []
        self._server_watermark(state, set(ids))
        raw, table = self._export_in_batches(rid, ids, pull)
        pull.changed_records = ids
        return raw, table

    def _incremental(self, rid: str, old: CacheState, state: CacheState, pull: Pull,
                     entries: list[dict[str, Any]] | None) -> tuple[pd.DataFrame, list[str]]:
        """(rows of the changed records, records whose cached rows they replace);
        ``entries``: the project log since the old watermark (None: not readable)."""
        since = datetime.strptime(old.watermark, WATERMARK_FORMAT)
        if entries is None:  # no Logging right: overlap on our clock, deletions unseen
            entries = []
            self._set_watermark(state, [], fallback=_clock_floor(), exported=None)
        else:
            self._set_watermark(state, entries, fallback=old.watermark, exported=None)
        by_date = _read_csv(self.client.export_records_csv(fields=[rid], date_begin=since))
        changed_by_date = set(by_date[rid]) if len(by_date) else set()
        new_entries = _unseen(entries, old.seen_at_watermark)
        changed_by_log = {r for r in map(_log_record, new_entries) if r}
        # Records the date filter returns only because of log entries the cache already
        # reflects (same minute as the last pull) need no new export.
        already_seen = {r for r in map(_log_record, entries) if r} - changed_by_log
        missed = changed_by_log - changed_by_date
        if missed:
            log.info("The project log names %d records the dateRangeBegin export did not "
                     "return (deleted, or changed outside the date filter); re-exporting them",
                     len(missed))
        changed = sorted((changed_by_date - already_seen) | changed_by_log, key=record_sort_key)
        fresh, _table = self._export_in_batches(rid, changed, pull)
        returned = set(fresh[rid]) if len(fresh) else set()
        known = set(old.records)
        pull.changed_records = [r for r in changed if r in returned]
        pull.deleted_records = [r for r in changed if r not in returned and r in known]
        state.records = sorted((known - set(changed)) | returned, key=record_sort_key)
        replaced = [r for r in changed if r in returned or r in known]
        return fresh, replaced

    def _export_in_batches(self, rid: str, ids: list[str],
                           pull: Pull) -> tuple[pd.DataFrame, pa.Table | None]:
        """(the rows as a normalised raw frame, the same rows as an Arrow table of strings in
        export order when every batch could be read that way, else None)."""
        # HTTP stays on this thread (the client is not shared); each answer is parsed on a
        # helper thread while the next batch is being exported (pyarrow's reader releases
        # the GIL), so parsing costs no wall time but the last batch's.
        futures: list[Future[tuple[pa.Table | None, pd.DataFrame]]] = []
        bar = tqdm(total=len(ids), unit="rec", desc="export_records", disable=not self.progress,
                   file=sys.stderr, leave=False)
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sgbm-parse") as pool:
                for batch in _batches(ids, self.batch_size):
                    text = self.client.export_records_csv(records=batch)
                    futures.append(pool.submit(_read_batch, text, rid, self.url))
                    pull.batches += 1
                    bar.update(len(batch))
                parts = [f.result() for f in futures]
        finally:
            bar.close()
        return _join_batches(parts, rid, self.url)

    def _server_watermark(self, state: CacheState, listed: set[str]) -> None:
        """The newest project-log time (REDCap's clock) before the rows are read.

        The record listing just made is logged as an export, so asking the log for exports
        of the last hours finds "now" on the server's clock cheaply; the record changes since
        that minute are read too, so the next sweep knows which it need not fetch again.
        Without any export in the log, the whole window is read (slower, still correct).
        """
        begin = datetime.strptime(_clock_floor(), WATERMARK_FORMAT)
        exports = self._log(begin_time=begin, log_type="export")
        newest = _newest(exports or [])
        if exports is None:
            entries = []
        elif newest is None:
            entries = self._log(begin_time=begin) or []
        else:
            since = datetime.strptime(newest, WATERMARK_FORMAT)
            entries = exports + (self._log(begin_time=since, log_type="record") or [])
        self._set_watermark(state, entries, fallback=begin.strftime(WATERMARK_FORMAT),
                            exported=listed)

    def _log(self, **kwargs: Any) -> list[dict[str, Any]] | None:
        """The project log, or None when this user may not export it (no Logging right)."""
        try:
            return self.client.export_logging(**kwargs)
        except RedcapAuthError as exc:
            if not self._warned_no_log:
                log.warning(NO_LOG_RIGHT, exc.redcap_message)
                self._warned_no_log = True
            return None

    @staticmethod
    def _set_watermark(state: CacheState, entries: list[dict[str, Any]], fallback: str,
                       exported: set[str] | None) -> None:
        """Watermark = newest log time; remember the entries of that minute the rows will
        reflect (a record missing from ``exported`` was created after the listing: its
        entry is not "seen", so the next sweep fetches it)."""
        newest = _newest(entries)
        state.watermark = newest or fallback
        state.seen_at_watermark = [
            _entry_key(e) for e in entries
            if (t := _parse_log_time(e.get("timestamp", ""))) is not None
            and t.strftime(WATERMARK_FORMAT) == state.watermark
            and (exported is None or not _log_record(e) or _log_record(e) in exported)
        ]


def _read_batch(text: str, rid: str, source: str) -> tuple[pa.Table | None, pd.DataFrame]:
    """(the batch as an Arrow table of strings, or None when pandas had to read it; the
    batch as a DataFrame of strings)."""
    table = read_export_csv(text)
    frame = read_export_pandas(text) if table is None else to_raw_frame(table)
    if len(frame) and rid not in frame.columns:
        raise SourceDataError(f"REDCap's export_records answer has no {rid!r} column",
                              file=source, column=rid)
    return table, frame


def _join_batches(parts: list[tuple[pa.Table | None, pd.DataFrame]], rid: str,
                  source: str) -> tuple[pd.DataFrame, pa.Table | None]:
    """One raw frame from the batches, and the same rows as one Arrow table when every
    batch was read by pyarrow with one schema. Batches of the same columns need no
    whole-frame fillna (every value is a str already); anything else goes the way it always
    went (pandas concat, blanks filled, values checked)."""
    parts = [p for p in parts if len(p[1].columns)]
    if not parts:
        return pd.DataFrame(columns=[rid]), None
    frames = [frame for _table, frame in parts]
    joined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    tables = [table for table, _frame in parts]
    if all(t is not None and t.schema.equals(tables[0].schema) for t in tables):
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        return normalise_raw(joined, rid, source=source, strings=True), table
    if joined.isna().any().any():  # batches with different columns
        joined = joined.fillna("")
    return normalise_raw(joined, rid, source=source), None


#: REDCap logs every change of the project's design (dictionary, instruments, repeating
#: setup, events, DAGs) with this action text (REDCAP_API.md: "Manage/Design ", with a space).
_DESIGN_ACTION = "manage/design"


def _design_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries
            if str(e.get("action", "")).strip().lower().startswith(_DESIGN_ACTION)]


def _metadata_due(old: CacheState, entries: list[dict[str, Any]] | None, every: int) -> str:
    """Why a sweep must export the metadata again, or '' when the cached dictionary holds.

    Design entries the cached metadata already reflects (read before it was exported, at the
    watermark's minute: REDCap logs to the minute) do not count again."""
    if entries is None:
        return "the project log cannot be read"
    if _unseen(_design_entries(entries), old.design_seen):
        return "the project log shows a design change"
    if old.sweeps_since_metadata + 1 >= every:
        return f"full check every {every} sweeps (metadata_check_every)"
    return ""


def _clock_floor() -> str:
    """A time no later than the server's "now" whatever its time zone (our UTC - 15 h)."""
    return (datetime.now(timezone.utc).replace(tzinfo=None) - _CLOCK_WINDOW).strftime(
        WATERMARK_FORMAT)


def _newest(entries: list[dict[str, Any]]) -> str | None:
    times = [t for t in (_parse_log_time(e.get("timestamp", "")) for e in entries) if t]
    return max(times).strftime(WATERMARK_FORMAT) if times else None


def _entry_key(entry: dict[str, Any]) -> list[str]:
    return [str(entry.get(k, "")) for k in ("timestamp", "username", "action", "details",
                                            "record")]


def _unseen(entries: list[dict[str, Any]], seen: list[list[str]]) -> list[dict[str, Any]]:
    """Log entries not among ``seen`` (a multiset: two identical entries count twice)."""
    remaining = Counter(tuple(k) for k in seen)
    out = []
    for entry in entries:
        key = tuple(_entry_key(entry))
        if remaining[key]:
            remaining[key] -= 1
        else:
            out.append(entry)
    return out


def _event_forms(mapping: list[dict[str, Any]]) -> dict[str, set[str]] | None:
    if not mapping:
        return None
    out: dict[str, set[str]] = {}
    for row in mapping:
        out.setdefault(str(row.get("unique_event_name", "")), set()).add(str(row.get("form", "")))
    return out


def _snapshot(t: Traffic) -> Traffic:
    return Traffic(t.requests, t.bytes_sent, t.bytes_received, dict(t.calls), t.retries,
                   dict(t.received_by_call))


def _minus(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def _delta(before: Traffic, after: Traffic) -> Traffic:
    return Traffic(after.requests - before.requests, after.bytes_sent - before.bytes_sent,
                   after.bytes_received - before.bytes_received,
                   _minus(after.calls, before.calls), after.retries - before.retries,
                   _minus(after.received_by_call, before.received_by_call))
