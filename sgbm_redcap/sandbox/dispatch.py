"""Request dispatch: token → project and user, ``content``/``action`` → endpoint function.

Above the endpoints: importing this module imports :mod:`.endpoints`, which registers every
endpoint function with :func:`.handler.endpoint`; two requests are answered before a project
is known (an External Module call and ``content=project`` with a super token) and go to
their endpoint modules directly.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from . import endpoints  # noqa: F401  (registers the endpoint functions)
from .collector import COLLECTOR
from .endpoints import design, dq
from .handler import NO_PERMISSION, REGISTRY, Context, Response
from .protocol import DEFAULT_MESSAGES, ApiError, Request, error_body, parse_request

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
        return dq.module_call(sb, req)
    content = req.get("content")
    token = req.get("token").strip()
    if not re.fullmatch(r"[A-Za-z0-9]+", token or "-"):
        raise ApiError(NO_PERMISSION, 403)
    if content not in VALID_CONTENT:
        owner = sb.store.token_owner(token)
        if owner is None:
            raise ApiError(NO_PERMISSION, 403)
        raise ApiError('The value of the parameter "content" is not valid')
    if content == "project" and req.has("data"):
        return design.create_project(sb, req, token)
    owner = sb.store.token_owner(token) if len(token) == 32 else None
    if owner is None or owner[0] is None:
        if content == "version" and len(token) == 64 and sb.store.token_owner(token):
            owner = (0, "")
        else:
            raise ApiError(NO_PERMISSION, 403)
    action = _choose_action(req, content)
    fault = sb.faults.redcap_error_for(content, action)
    if fault is not None:
        raise ApiError(fault[1], fault[0])
    fn = REGISTRY.get((content, action))
    if fn is None:
        raise ApiError(f'The content "{content}" with action "{action}" is not implemented '
                       "in the sgbm-redcap sandbox", 400)
    ctx = Context(sb, req, owner[0], owner[1], action)
    return fn(ctx)
