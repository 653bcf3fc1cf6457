"""SQLite state of one sandbox: projects, tokens, record values (one JSON
document per record), log, files.

One file per sandbox, WAL mode, one connection per thread. Writes are serialised by a
process-wide lock and run in one ``BEGIN IMMEDIATE`` transaction each, so concurrent requests
(threaded HTTP server) see consistent state and a second process on the same file waits
instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from .meta import ProjectMeta

RowKey = tuple[str, str, str, int]  # record, event, repeat instrument, instance

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    pid INTEGER PRIMARY KEY AUTOINCREMENT,
    config TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    pid INTEGER,              -- NULL for super tokens
    username TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    pid INTEGER NOT NULL,
    record TEXT NOT NULL,
    dag TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    modified TEXT NOT NULL,
    PRIMARY KEY (pid, record)
) WITHOUT ROWID;
-- One row per record holding all its flat-export rows (event x repeat instrument x
-- instance) as a JSON array of [event, instrument, instance, {non-blank values}] in key
-- order; checkbox fields map to the list of checked codes; instrument '' and instance 0 for
-- non-repeating rows. (Measured before: a value-per-row EAV table made reading 2.6M values
-- back for a 10,000-record export take about the whole 5 s budget; a row per flat row made
-- an import write ~14,000 index entries per 500 records. See docs/sandbox.md.)
CREATE TABLE IF NOT EXISTS record_rows (
    pid INTEGER NOT NULL,
    record TEXT NOT NULL,
    rows TEXT NOT NULL,
    PRIMARY KEY (pid, record)
);
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pid INTEGER NOT NULL,
    ts TEXT NOT NULL,
    username TEXT NOT NULL,
    logtype TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL,
    record TEXT NOT NULL,
    dag TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS log_by_pid ON log (pid, id);
CREATE TABLE IF NOT EXISTS docs (
    doc_id INTEGER PRIMARY KEY AUTOINCREMENT,
    pid INTEGER NOT NULL,
    name TEXT NOT NULL,
    mime TEXT NOT NULL,
    content BLOB NOT NULL,
    folder_id INTEGER,          -- file repository folder; NULL = top level
    in_repository INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def _compact_dumps(values: Any) -> str:
    """Stored rows as compact JSON text: ``json.dumps(v, ensure_ascii=False,
    separators=(",", ":"))``, byte for byte.

    orjson writes the same text (compact, non-ASCII as UTF-8) about five times faster than
    the standard library's C encoder, and an import stores one row per flat row (~14,000 per
    500-record request at the cohort's density); it refuses text the standard library
    accepts (lone surrogates from ``\\ud800`` escapes, integers beyond 64 bits), which then
    goes through the standard library.
    """
    try:
        return orjson.dumps(values).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def select_for_records(conn: sqlite3.Connection, sql: str, pid: int,
                       records: list[str]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (a query ending in ``WHERE pid=?``) for the named records only,
    asked 500 names at a time (under SQLite's limit on bound parameters)."""
    found: list[tuple[Any, ...]] = []
    for i in range(0, len(records), 500):
        batch = records[i:i + 500]
        found += conn.execute(f"{sql} AND record IN ({','.join('?' * len(batch))})",
                              (pid, *batch)).fetchall()
    return found


class Store:
    """Thread-safe access to one sandbox database."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.write_lock = threading.RLock()
        self._meta_cache: dict[int, tuple[int, ProjectMeta]] = {}
        with self.write_lock:
            conn = self.conn
            conn.executescript(SCHEMA)
            conn.commit()
            self._migrate_flat_row_table(conn)

    def _migrate_flat_row_table(self, conn: sqlite3.Connection) -> None:
        """Move the values of a sandbox file written before 2026-11-25 (table ``data``: one
        SQLite row per flat row) into ``record_rows``, in one transaction."""
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='data'"
                        ).fetchone() is None:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            by_record: dict[tuple[int, str], list[list[Any]]] = {}
            for pid, rec, ev, ins, inst, fields in conn.execute(
                    "SELECT pid, record, event, instrument, instance, fields FROM data "
                    "ORDER BY pid, record, event, instrument, instance"):
                by_record.setdefault((pid, rec), []).append([ev, ins, inst, json.loads(fields)])
            conn.executemany(
                "INSERT INTO record_rows (pid, record, rows) VALUES (?,?,?) "
                "ON CONFLICT (pid, record) DO UPDATE SET rows=excluded.rows",
                [(pid, rec, _compact_dumps(rows)) for (pid, rec), rows in by_record.items()])
            conn.execute("DROP TABLE data")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute("PRAGMA cache_size=-65536")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One serialised write transaction."""
        with self.write_lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------ projects
    def project_config(self, pid: int) -> tuple[int, dict[str, Any]]:
        row = self.conn.execute("SELECT version, config FROM projects WHERE pid=?",
                                (pid,)).fetchone()
        if row is None:
            raise KeyError(pid)
        return row[0], json.loads(row[1])

    def meta(self, pid: int) -> ProjectMeta:
        """The cached :class:`ProjectMeta`, rebuilt when the configuration changed."""
        version = self.conn.execute("SELECT version FROM projects WHERE pid=?", (pid,)).fetchone()
        if version is None:
            raise KeyError(pid)
        cached = self._meta_cache.get(pid)
        if cached and cached[0] == version[0]:
            return cached[1]
        v, config = self.project_config(pid)
        meta = ProjectMeta.build(config)
        self._meta_cache[pid] = (v, meta)
        return meta

    def save_config(self, conn: sqlite3.Connection, pid: int, config: dict[str, Any]) -> None:
        conn.execute("UPDATE projects SET config=?, version=version+1 WHERE pid=?",
                     (json.dumps(config), pid))

    def insert_project(self, conn: sqlite3.Connection, config: dict[str, Any]) -> int:
        cur = conn.execute("INSERT INTO projects (config) VALUES (?)", (json.dumps(config),))
        return int(cur.lastrowid or 0)

    def token_owner(self, token: str) -> tuple[int | None, str] | None:
        row = self.conn.execute("SELECT pid, username FROM tokens WHERE token=?",
                                (token,)).fetchone()
        return (row[0], row[1]) if row else None

    # ------------------------------------------------------------------ record rows
    def _stored_records(self, conn: sqlite3.Connection, pid: int,
                        records: list[str] | None) -> list[tuple[str, str]]:
        """(record, rows JSON) of the project's records (all, or those named), by name."""
        sql = "SELECT record, rows FROM record_rows WHERE pid=?"
        if records is None:
            return conn.execute(sql + " ORDER BY record", (pid,)).fetchall()
        return sorted(select_for_records(conn, sql, pid, records))

    def read_rows(self, pid: int, records: list[str] | None = None, *,
                  conn: sqlite3.Connection | None = None) -> dict[RowKey, dict[str, Any]]:
        """Stored rows by key, in key order; ``records=None`` reads the whole project."""
        found = self._stored_records(conn or self.conn, pid, records)
        # one json.loads over all records: far cheaper than a call per record
        parsed = json.loads("[" + ",".join(r[1] for r in found) + "]")
        return {(rec, ev, ins, inst): values
                for (rec, _), rows in zip(found, parsed, strict=True)
                for ev, ins, inst, values in rows}

    def write_rows(self, conn: sqlite3.Connection, pid: int,
                   rows: dict[RowKey, dict[str, Any]], *, whole_records: bool = False) -> None:
        """Replace the given rows (an empty dict deletes the row); other rows of the same
        records stay as stored. A record left without rows has no stored rows at all.
        ``whole_records``: ``rows`` holds every row of each record it names (as an import
        that read them has), so nothing stored is read back to merge with."""
        by_record: dict[str, dict[tuple[str, str, int], dict[str, Any]]] = {}
        for (rec, ev, ins, inst), values in rows.items():
            by_record.setdefault(rec, {})[(ev, ins, inst)] = values
        stored = [] if whole_records else self._stored_records(conn, pid, list(by_record))
        if stored:
            parsed = json.loads("[" + ",".join(r[1] for r in stored) + "]")
            for (rec, _), old_rows in zip(stored, parsed, strict=True):
                merged = {(ev, ins, inst): values for ev, ins, inst, values in old_rows}
                merged.update(by_record[rec])
                by_record[rec] = merged
        dumps = _compact_dumps
        keep, drop = [], []
        for rec, record_rows in by_record.items():
            kept = [[*key, record_rows[key]] for key in sorted(record_rows) if record_rows[key]]
            if kept:
                keep.append((pid, rec, dumps(kept)))
            else:
                drop.append((pid, rec))
        conn.executemany(
            "INSERT INTO record_rows (pid, record, rows) VALUES (?,?,?) "
            "ON CONFLICT (pid, record) DO UPDATE SET rows=excluded.rows", keep)
        conn.executemany("DELETE FROM record_rows WHERE pid=? AND record=?", drop)

    # ------------------------------------------------------------------ settings
    def setting(self, key: str, default: str = "") -> str:
        row = self.conn.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                         (key, value))
