"""Where queries live. Two backends, one interface:

* :class:`RecordsBackend` (default): the ``data_queries`` repeating instrument of the study
  project, written with ``content=record`` imports (overwriteBehavior=normal: a write never
  blanks a value; nothing is ever deleted). Rows carry explicit instance numbers, so sending
  the same batch twice (a retry after a dropped connection) writes the same thing twice.
* :class:`DataQualityApiBackend`: REDCap's native Data Resolution Workflow through
  Vanderbilt's ``data_quality_api`` external module (docs/REDCAP_API.md §6).

Both read the current queries as an EXISTING_COLUMNS frame and post the rows of a
:class:`~sgbm_redcap.queries.reconcile.Plan`, through the one REDCap transport
(``source.client.RedcapClient.post``); both declare their writes idempotent, so the
transport may resend them after a timeout or a dropped connection.
"""

from __future__ import annotations

import json
import logging
import zlib
from typing import Any, Protocol

import pandas as pd

from sgbm_redcap.queries.reconcile import (
    ANSWERED,
    CLOSED,
    EXISTING_COLUMNS,
    OPEN,
    REOPENED,
    normalise_existing,
)
from sgbm_redcap.source.client import RedcapClient

log = logging.getLogger(__name__)

#: The query backends talk to REDCap through the one transport, ``source.client`` (its
#: timeouts, retry policy and named errors); the name is kept for the backends' callers.
RedcapHttp = RedcapClient


class QueryBackend(Protocol):
    name: str

    def existing(self) -> pd.DataFrame: ...

    def send(self, actions: list[dict[str, Any]]) -> int: ...


class RecordsBackend:
    """Queries as instances of the ``data_queries`` repeating instrument."""

    name = "records"

    def __init__(self, http: RedcapClient, *, record_id: str = "record_id") -> None:
        self.http = http
        self.record_id = record_id

    def existing(self) -> pd.DataFrame:
        fields = [self.record_id] + EXISTING_COLUMNS[2:]
        data = {"content": "record", "type": "flat"}
        for i, f in enumerate(fields):
            data[f"fields[{i}]"] = f
        rows = self.http.post("export_records", data, idempotent=True)
        frame = pd.DataFrame(rows if isinstance(rows, list) else []).astype(str)
        return normalise_existing(frame, self.record_id)

    def payload(self, action: dict[str, Any]) -> dict[str, Any]:
        """What is sent for ``action`` (the audit log records it)."""
        return action["row"]

    def send(self, actions: list[dict[str, Any]]) -> int:
        """Import the rows of ``actions`` (one request; the caller batches). Idempotent, so
        the transport may resend it after a timeout or a dropped connection: every row names
        its record and instance (never ``new``, never auto-numbered) and
        ``overwriteBehavior=normal`` never blanks a value, so a resend writes the same values
        into the same instances."""
        if not actions:
            return 0
        self.http.post("import_records", {
            "content": "record", "type": "flat", "overwriteBehavior": "normal",
            "returnContent": "count", "data": json.dumps([a["row"] for a in actions])},
            idempotent=True)
        return len(actions)


# -- the data_quality_api external module (Data Resolution Workflow) -----------------------------
DQ_PREFIX = "vanderbilt_dataQuality"
_DRW_STATUS = {OPEN: "OPEN", REOPENED: "OPEN", CLOSED: "CLOSED"}


class DataQualityApiBackend:
    """Queries as Data Resolution Workflow threads via the ``data_quality_api`` module.

    DRW keeps one thread per record/field/instance; each of our queries is a resolution whose
    comment starts with ``[<query id>]``. A query's state is read from the latest resolution
    that names it: CLOSED → closed; OPEN written by the sweep → open; a later resolution by
    someone else (a site answer) → answered. Resolutions carry a timestamp derived from the
    query id and the day, so the module's "same ts + user = duplicate" rule makes a resent
    batch harmless.
    """

    name = "data_quality_api"

    def __init__(self, http: RedcapClient, *, pid: str | int, user: str = "sgbm_sweep",
                 prefix: str = DQ_PREFIX, today: str | None = None) -> None:
        self.http = http
        self.pid = str(pid)
        self.user = user
        self.prefix = prefix
        self.today = today or str(pd.Timestamp.today().date())

    def _params(self, page: str) -> dict[str, str]:
        return {"prefix": self.prefix, "page": page, "type": "module", "NOAUTH": "",
                "pid": self.pid}

    def threads(self) -> dict[str, Any]:
        out = self.http.post("dq_export", {}, params=self._params("export"), idempotent=True)
        return out if isinstance(out, dict) else {}

    def existing(self) -> pd.DataFrame:
        state: dict[str, dict[str, Any]] = {}
        for status_id, t in self.threads().items():
            # res_id is the module's insertion order; our own ts values are synthetic
            res = sorted((t.get("resolutions") or {}).values(),
                         key=lambda r: int(r.get("res_id") or 0))
            for r in res:
                comment = str(r.get("comment") or "")
                qid = comment[1:comment.index("]")] if comment.startswith("[") and "]" in \
                    comment else None
                cur = str(r.get("current_query_status") or "").upper()
                if qid:
                    st = CLOSED if cur == "CLOSED" else OPEN
                    if st == OPEN and "reopened" in comment[:80].lower():
                        st = REOPENED
                    state[qid] = {"record_id": str(t.get("record")), "instance": int(
                        t.get("instance") or 1), "dq_id": qid, "dq_rule": qid.split(":")[0],
                        "dq_status": st, "dq_message": comment, "dq_site_response": "",
                        "status_id": status_id}
                elif str(r.get("username") or "") != self.user:
                    # a site answer: applies to every query of this thread still open
                    for s in state.values():
                        if s["status_id"] == status_id and s["dq_status"] in (OPEN, REOPENED):
                            s["dq_status"] = CLOSED if cur == "CLOSED" else ANSWERED
                            s["dq_site_response"] = str(r.get("response") or comment)
        frame = pd.DataFrame(list(state.values()), columns=EXISTING_COLUMNS + ["status_id"])
        return frame[EXISTING_COLUMNS].fillna("")

    def payload(self, action: dict[str, Any]) -> dict[str, Any]:
        """What is sent for ``action`` (the audit log records it)."""
        return self._resolution(action)

    def _resolution(self, action: dict[str, Any]) -> dict[str, Any]:
        qid = action["query_id"]
        _rule, rid, form, inst, field = qid.split(":")
        row = action["row"]
        status = _DRW_STATUS[row["dq_status"]]
        words = {"open": row.get("dq_message", ""), "close": row.get("dq_note", ""),
                 "reopen": row.get("dq_note", "")}[action["action"]]
        seconds = zlib.crc32(f"{qid}|{action['action']}".encode()) % 86400
        ts = f"{self.today} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        return {"record": rid, "field_name": field, "instance": max(int(inst), 1),
                "repeat_instrument": form if int(inst) else "", "comment": f"[{qid}] {words}",
                "current_query_status": status, "response_requested": int(status == "OPEN"),
                "username": self.user, "ts": ts}

    def send(self, actions: list[dict[str, Any]]) -> int:
        if not actions:
            return 0
        data = [self._resolution(a) for a in actions]
        # idempotent: each resolution's ts is derived from the query id and the day, and the
        # module drops a resolution with the same ts and user as a duplicate
        self.http.post("dq_import", {"data": json.dumps(data)}, params=self._params("import"),
                       idempotent=True)
        return len(data)
