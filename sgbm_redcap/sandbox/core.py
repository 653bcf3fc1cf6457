"""The :class:`Sandbox`: one local REDCap API emulator backed by one SQLite file."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .dispatch import dispatch
from .faults import DroppedConnection, FaultPlan, Faults
from .handler import Response
from .odm import create_from_odm
from .project import (
    add_dag,
    add_event,
    blank_config,
    new_token,
    normalise_metadata_row,
    read_dictionary_rows,
    user_record,
)
from .protocol import now
from .store import Store

log = logging.getLogger(__name__)

DB_NAME = "sandbox.sqlite3"
REDCAP_VERSION = "15.7.6"
DEFAULT_USER = "sandbox_admin"


class Sandbox:
    """A stateful REDCap API emulator. ``handle`` answers one request in-process."""

    def __init__(self, data_dir: str | Path, *, public_url: str = "http://127.0.0.1/redcap/"):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.data_dir / DB_NAME)
        self.public_url = self.store.setting("public_url", public_url)
        self.faults = Faults(FaultPlan.from_json(self.store.setting("faults", "")))
        self.version = REDCAP_VERSION
        #: the clock the log and record timestamps are written with; None: the real one
        self.clock: Callable[[], dt.datetime] | None = None

    # ------------------------------------------------------------------ configuration
    def now(self) -> str:
        """The time written into the log and the records' timestamps: the server's local
        time, or :attr:`clock`'s when a simulated clock is set."""
        return now() if self.clock is None else self.clock().strftime("%Y-%m-%d %H:%M:%S")

    @contextmanager
    def simulated_clock(self, at: dt.datetime | Callable[[], dt.datetime]) -> Iterator[None]:
        """Write the log at ``at`` (a time, or a clock to call) inside the block: for
        seeding a project whose history happened over months (the synthetic monitoring
        data); the real clock again afterwards."""
        previous = self.clock
        self.clock = at if callable(at) else (lambda: at)
        try:
            yield
        finally:
            self.clock = previous

    def set_public_url(self, url: str) -> None:
        """The base that survey links start with (``<url>surveys/?s=…``)."""
        self.public_url = url if url.endswith("/") else url + "/"
        self.store.set_setting("public_url", self.public_url)

    def set_faults(self, plan: FaultPlan | None = None, **kwargs: Any) -> FaultPlan:
        """Configure fault injection (persisted); ``set_faults()`` switches it off."""
        plan = plan or FaultPlan(**kwargs)
        self.faults.configure(plan)
        self.store.set_setting("faults", plan.to_json())
        return plan

    def create_super_token(self, username: str = DEFAULT_USER) -> str:
        """A new 64-character super token (may create projects with ``content=project``)."""
        token = new_token(64)
        self.register_super_token(token, username)
        return token

    def register_super_token(self, token: str, username: str = DEFAULT_USER) -> None:
        with self.store.write() as conn:
            conn.execute("INSERT OR IGNORE INTO tokens (token, pid, username) VALUES (?, NULL, ?)",
                         (token, username))

    def create_project(
        self,
        dictionary_csv: str | bytes | Path | None = None,
        *,
        repeating_forms: Sequence[str] = (),
        dags: Sequence[str | tuple[str, str]] = (),
        title: str = "Sandbox project",
        metadata: list[dict[str, Any]] | None = None,
        arms: Sequence[dict[str, Any]] = (),
        events: Sequence[dict[str, Any]] = (),
        form_event_mapping: Sequence[dict[str, Any]] = (),
        username: str = DEFAULT_USER,
        settings: dict[str, Any] | None = None,
        log_details: str | None = "Create project",
    ) -> str:
        """Create a project from a data dictionary and return its 32-character API token.

        ``dags`` are labels or ``(unique_name, label)`` pairs. Longitudinal projects pass
        ``arms``/``events`` (``{"event_name", "arm_num"}``) and ``form_event_mapping``.
        The creation is logged with ``log_details`` (``None``: the caller logs it).
        """
        if metadata is None:
            if dictionary_csv is None:
                raise ValueError("create_project needs a dictionary CSV or metadata rows")
            metadata = read_dictionary_rows(dictionary_csv)
        rows = [normalise_metadata_row(r) for r in metadata]
        config = self.blank_config(title, settings or {})
        config["metadata"] = rows
        forms = list(dict.fromkeys(r["form_name"] for r in rows))
        for d in dags:
            unique, label = (d if isinstance(d, tuple) else (None, d))
            self.add_dag(config, label, unique)
        if events:
            config["is_longitudinal"] = 1
            config["arms"] = [{"arm_num": int(a["arm_num"]), "name": a.get("name", f"Arm {a['arm_num']}")}
                              for a in arms] or [{"arm_num": 1, "name": "Arm 1"}]
            for e in events:
                self.add_event(config, e)
            config["fem"] = [dict(m, arm_num=int(m["arm_num"])) for m in form_event_mapping]
        config["repeating"] = [{"event_name": "", "form_name": f, "custom_form_label": ""}
                               for f in repeating_forms]
        config["users"] = [user_record(username, forms)]
        token = new_token()
        with self.store.write() as conn:
            pid = self.store.insert_project(conn, config)
            config["project_id"] = pid
            self.store.save_config(conn, pid, config)
            conn.execute("INSERT INTO tokens (token, pid, username) VALUES (?, ?, ?)",
                         (token, pid, username))
            if log_details is not None:
                conn.execute(
                    "INSERT INTO log (pid, ts, username, logtype, action, details, record) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (pid, self.now(), username, "manage", "Manage/Design ", log_details, ""))
        log.info("sandbox project %s created", pid)
        return token

    def add_report(self, token: str, report_id: str, *, fields: Sequence[str] = (),
                   filter_logic: str = "", title: str = "", export_dags: bool = False) -> None:
        """Store a report definition that ``content=report&report_id=…`` runs."""
        owner = self.store.token_owner(token)
        if owner is None or owner[0] is None:
            raise ValueError("unknown project token")
        with self.store.write() as conn:
            _, config = self.store.project_config(owner[0])
            config.setdefault("reports", {})[str(report_id)] = {
                "title": title or f"Report {report_id}", "fields": list(fields),
                "filter_logic": filter_logic, "export_dags": export_dags}
            self.store.save_config(conn, owner[0], config)

    def create_project_from_odm(self, odm: str | bytes | Path, *, title: str | None = None,
                                username: str = DEFAULT_USER) -> str:
        """Create a project from a REDCap Project XML (ODM) and return its token; the same
        path as ``content=project`` with ``odm`` (data included)."""
        if isinstance(odm, Path):
            odm = odm.read_text(encoding="utf-8")
        elif isinstance(odm, bytes):
            odm = odm.decode("utf-8")
        return create_from_odm(self, odm, {"project_title": title} if title else {},
                               username=username)

    # the configuration builders, kept as methods for callers of the Sandbox class
    blank_config = staticmethod(blank_config)
    add_dag = staticmethod(add_dag)
    add_event = staticmethod(add_event)

    # ------------------------------------------------------------------ requests
    def handle(self, body: bytes | str, content_type: str = "application/x-www-form-urlencoded",
               *, query: str = "", method: str = "POST") -> tuple[int, dict[str, str], bytes]:
        """Answer one API request: ``(status, headers, body)``.

        Raises :class:`~.faults.DroppedConnection` when fault injection drops the request;
        the HTTP server then closes the socket and the ``responses`` router raises
        ``requests.ConnectionError``.
        """
        if isinstance(body, str):
            body = body.encode("utf-8")
        fail, delay, drop = self.faults.draw()
        if delay:
            time.sleep(delay)
        if drop:
            raise DroppedConnection()
        if fail:
            # a crashed PHP page: HTML, not REDCap's envelope (PyCap's JSON calls then fail
            # with JSONDecodeError, as against a real server)
            resp = Response(500, b"<html><body><h1>500 Internal Server Error</h1></body></html>",
                            "text/html")
        else:
            resp = dispatch(self, body, content_type, query=query, method=method)
        headers = {"Content-Type": _with_charset(resp.content_type)}
        headers.update(resp.headers)
        return resp.status, headers, resp.body


def _with_charset(ctype: str) -> str:
    if "charset" in ctype or not (ctype.startswith("text/") or ctype == "application/json"):
        return ctype
    return f"{ctype}; charset=utf-8"
