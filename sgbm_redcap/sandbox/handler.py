"""Request dispatch: token → project and user, ``content``/``action`` → endpoint function.

Endpoints register themselves with :func:`endpoint`; each takes a :class:`Context` and returns
a :class:`Response` or raises :class:`~.protocol.ApiError`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .collector import COLLECTOR
from .meta import ProjectMeta
from .protocol import DEFAULT_MESSAGES, MIME, ApiError, Request, error_body, parse_request

if TYPE_CHECKING:
    from .core import Sandbox

log = logging.getLogger(__name__)

VALID_CONTENT = set(
    "record metadata file fileRepository repeatingFormsEvents instrument event arm user "
    "project_settings report authkey version pdf surveyLink surveyAccessCode surveyQueueLink "
    "surveyReturnCode participantList exportFieldNames appRightsCheck formEventMapping "
    "fieldValidation attachment project generateNextRecordName project_xml dag userDagMapping "
    "log tableau mycap userRole userRoleMapping externalModule".split()
)
_ACTION_CONTENT = {"file", "fileRepository", "event", "arm", "dag", "user", "userRole", "authkey"}
_VALID_ACTIONS = {"export", "delete", "import", "import_app", "switch", "list", "createFolder"}
_NO_PERM = "You do not have permissions to use the API"


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
    def store(self):  # noqa: ANN201 - Store, kept untyped to avoid an import cycle
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
            raise ApiError(messages.get(right, _NO_PERM), 403)

    def log(self, conn: Any, logtype: str, action: str, details: str = "", record: str = "",
            dag: str = "") -> None:
        conn.execute(
            "INSERT INTO log (pid, ts, username, logtype, action, details, record, dag) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (self.pid, now(), self.username, logtype, action, details, record, dag),
        )


EndpointFn = Callable[[Context], Response]
_REGISTRY: dict[tuple[str, str], EndpointFn] = {}


def endpoint(content: str, action: str = "export") -> Callable[[EndpointFn], EndpointFn]:
    def deco(fn: EndpointFn) -> EndpointFn:
        _REGISTRY[(content, action)] = fn
        return fn

    return deco


def now() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def _choose_action(req: Request, content: str) -> str:
    action = req.get("action")
    if content in _ACTION_CONTENT:
        if not action:
            if content in ("user", "userRole") and req.has("data"):
                return "import"
            return "export"
        if action not in _VALID_ACTIONS:
            raise ApiError('The value of the parameter "action" is not valid')
        return action
    if content == "record" and action in ("delete", "rename", "randomize"):
        return action
    if content == "formEventMapping" and action == "import":
        return "import"
    return "import" if req.has("data") else "export"


def dispatch(sb: Sandbox, body: bytes, content_type: str, *, query: str = "",
             method: str = "POST") -> Response:
    """Answer one API request as REDCap would, errors included."""
    if method.upper() != "POST":
        data, ctype = error_body(DEFAULT_MESSAGES[501], "xml")
        return Response(501, data, ctype)
    with COLLECTOR.paused():
        return _answer(sb, body, content_type, query)


def _answer(sb: Sandbox, body: bytes, content_type: str, query: str) -> Response:
    try:
        req = parse_request(body, content_type, query)
    except Exception as exc:  # a malformed multipart body is a client error, not a crash
        log.debug("unparseable request: %s", exc)
        data, ctype = error_body(DEFAULT_MESSAGES[400], "xml")
        return Response(400, data, ctype)
    try:
        return _dispatch(sb, req)
    except ApiError as err:
        data, ctype = error_body(err.message, req.return_format)
        return Response(err.status, data, ctype)


def _dispatch(sb: Sandbox, req: Request) -> Response:
    if req.query.get("type") == "module" and req.query.get("prefix"):
        from .endpoints import dq

        return dq.module_call(sb, req)
    content = req.get("content")
    token = req.get("token").strip()
    if not re.fullmatch(r"[A-Za-z0-9]+", token or "-"):
        raise ApiError(_NO_PERM, 403)
    if content not in VALID_CONTENT:
        owner = sb.store.token_owner(token)
        if owner is None:
            raise ApiError(_NO_PERM, 403)
        raise ApiError('The value of the parameter "content" is not valid')
    if content == "project" and req.has("data"):
        from .endpoints import design

        return design.create_project(sb, req, token)
    owner = sb.store.token_owner(token) if len(token) == 32 else None
    if owner is None or owner[0] is None:
        if content == "version" and len(token) == 64 and sb.store.token_owner(token):
            owner = (0, "")
        else:
            raise ApiError(_NO_PERM, 403)
    action = _choose_action(req, content)
    fault = sb.faults.redcap_error_for(content, action)
    if fault is not None:
        raise ApiError(fault[1], fault[0])
    fn = _REGISTRY.get((content, action))
    if fn is None:
        raise ApiError(f'The content "{content}" with action "{action}" is not implemented '
                       "in the sgbm-redcap sandbox", 400)
    ctx = Context(sb, req, owner[0], owner[1], action)
    return fn(ctx)
