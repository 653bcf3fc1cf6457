"""The audit log: every write to REDCap is appended here (JSON lines) *before* it is sent,
so that a sweep killed between the two still leaves a trace of what it meant to do."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


class AuditLog:
    """Append-only JSON-lines file. Each line: ``at`` (UTC ISO time), ``sweep``, ``backend``,
    ``action``, ``query_id``, ``record_id``, ``instance``, ``why``, ``values`` (what is sent).
    The API token is never part of an entry."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, entries: Iterable[dict[str, Any]]) -> int:
        lines = [json.dumps(e, ensure_ascii=False, sort_keys=True, default=str) for e in entries]
        if not lines:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return len(lines)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]


def entry(*, sweep: str, backend: str, action: str, query_id: str, record_id: str,
          instance: int, why: str, values: dict[str, Any], phase: str = "sending") -> dict:
    return {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "sweep": sweep,
            "backend": backend, "phase": phase, "action": action, "query_id": query_id,
            "record_id": record_id, "instance": instance, "why": why, "values": values}
