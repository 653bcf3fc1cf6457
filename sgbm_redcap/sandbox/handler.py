"""What an endpoint works with: the request :class:`Context`, the :class:`Response` and the
:func:`endpoint` registry (the dispatcher in :mod:`.dispatch` looks endpoints up there).

Endpoints register themselves with :func:`endpoint`; each takes a :class:`Context` and returns
a :class:`Response` or raises :class:`~.protocol.ApiError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .meta import ProjectMeta
from .protocol import MIME, ApiError, Request

if TYPE_CHECKING:
    from .core import Sandbox
    from .store import Store

log = logging.getLogger(__name__)

NO_PERMISSION = "You do not have permissions to use the API"


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = MIME["json"]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    sb: Sandbox
    req: Request
    pid: int
    username: str
    action: str

    @property
    def store(self) -> Store:
        return self.sb.store

    @property
    def meta(self) -> ProjectMeta:
        return self.sb.store.meta(self.pid)

    @property
    def config(self) -> dict[str, Any]:
        return self.meta.config

    @property
    def user(self) -> dict[str, Any]:
        for u in self.config.get("users", []):
            if u["username"] == self.username:
                return u
        return {}

    @property
    def user_dag(self) -> str:
        return self.user.get("data_access_group", "") or ""

    def right(self, name: str) -> bool:
        try:
            return int(self.user.get(name, 0) or 0) > 0
        except (TypeError, ValueError):
            return False

    def require(self, right: str) -> None:
        messages = {
            "api_export": "You do not have API Export privileges",
            "api_import": "You do not have API Import/Update privileges",
            "record_delete": "You do not have Delete Record privileges",
            "design": "You do not have Project Setup/Design privileges",
            "user_rights": "You do not have User Rights privileges",
            "logging": "You do not have Logging privileges",
            "data_access_groups": "You do not have Data Access Groups privileges",
            "file_repository": "You do not have File Repository privileges",
        }
        if not self.right(right):
            raise ApiError(messages.get(right, NO_PERMISSION), 403)

    def log(self, conn: Any, logtype: str, action: str, details: str = "", record: str = "",
            dag: str = "") -> None:
        conn.execute(
            "INSERT INTO log (pid, ts, username, logtype, action, details, record, dag) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (self.pid, self.sb.now(), self.username, logtype, action, details, record, dag),
        )


EndpointFn = Callable[[Context], Response]
REGISTRY: dict[tuple[str, str], EndpointFn] = {}


def endpoint(content: str, action: str = "export") -> Callable[[EndpointFn], EndpointFn]:
    def deco(fn: EndpointFn) -> EndpointFn:
        REGISTRY[(content, action)] = fn
        return fn

    return deco


def update_config(ctx: Context, change: Callable[[dict[str, Any]], None],
                  log_details: str = "") -> None:
    """Read-modify-write the project configuration in one transaction, logged as design."""
    with ctx.store.write() as conn:
        _, config = ctx.store.project_config(ctx.pid)
        change(config)
        ctx.store.save_config(conn, ctx.pid, config)
        if log_details:
            ctx.log(conn, "manage", "Manage/Design ", log_details)
