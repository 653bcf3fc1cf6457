"""The one place where the toolkit talks to REDCap through PyCap.

PyCap 2.7.0 (pinned) posts through a module-global ``requests.Session`` with no timeout,
validates its input with ``assert``, never looks at the HTTP status and reports errors as
``RedcapError`` (an alias of ``requests.RequestException``). This module fixes all of that in
one place:

* the URL and the token are checked first, with messages that say what to do;
* every call goes through *our* session: an adapter with a default timeout and urllib3
  ``Retry`` (exponential backoff on HTTP 5xx, refused/dropped connections and timeouts), plus
  tenacity around each call for connections dropped while the body is being read;
* a response hook counts the bytes that crossed the wire and turns any HTTP status >= 400
  into an error that carries REDCap's own message;
* every failure leaves as a ``RedcapApiError`` subclass naming the call.

It is the only HTTP transport to REDCap: the pulls use it through PyCap, the query backends
(``queries.backends``) through :meth:`RedcapClient.post`. **One retry policy**, decided by
whether sending a request twice is harmless (``idempotent``):

* reads (every export) and idempotent writes are retried on connection errors, timeouts,
  dropped connections (also mid-answer) and HTTP 500/502/503/504, with exponential backoff
  (``Retry-After`` respected);
* any other write is retried **only when it certainly never reached the server** (the
  connection could not be opened). A timeout, a dropped connection or a 5xx after the
  request was sent may mean REDCap already applied it, and resending could duplicate data;
  the error is raised instead and the next run starts from what REDCap holds.

The toolkit's writes are idempotent by construction and say so: query rows are imported with
explicit instance numbers and ``overwriteBehavior=normal`` (a resend writes the same values
into the same instances), and Data Resolution Workflow resolutions carry a timestamp derived
from the query id, which the module treats as a duplicate. Nothing is ever imported with
``forceAutoNumber`` or without an instance number, the writes that are not idempotent.
The token is held by PyCap's ``Project`` and sent in the form body; it never appears in a
message, a log line or a repr.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redcap
import requests
from requests.adapters import HTTPAdapter
from tenacity import Retrying as _TenacityRetrying
from tenacity import retry_if_exception_type, stop_after_attempt, wait_exponential
from urllib3.util.retry import Retry

from sgbm_redcap.errors import (
    ConfigError,
    RedcapApiError,
    RedcapAuthError,
    RedcapConnectionError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Statuses worth retrying: the server or a proxy in front of it had a bad moment.
RETRY_STATUSES = (500, 502, 503, 504)
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9]{32}$")

WRONG_URL_HELP = (
    "REDCap API URL {url!r} must end with '/api/' (for example "
    "'https://redcap.example.org/api/'). Use the API URL shown on the project's 'API "
    "Playground' page, not the address of a project page."
)
BAD_TOKEN_HELP = (
    "REDCap rejected the API token during {call} (HTTP {status}: {message}). Check that "
    "SGBM_REDCAP_TOKEN holds the token of this project on this server, that your REDCap "
    "user still has API export rights, and that the token has not been regenerated."
)
MALFORMED_TOKEN_HELP = (
    "The API token is not a REDCap project token (expected 32 letters or digits; the token "
    "itself is not shown). Copy it again from the project's 'API' page into SGBM_REDCAP_TOKEN."
)
TLS_HELP = (
    "TLS problem talking to {url} during {call}: {reason}. The server's certificate could not "
    "be verified. If the server uses an in-house certificate authority, point "
    "REQUESTS_CA_BUNDLE at its bundle; do not turn verification off."
)
HTML_ANSWER_HELP = (
    "REDCap at {host} answered {call} with an HTML page (HTTP {status}: {title}), not an "
    "API answer: a login page, a single sign-on or proxy in front of the server, or a "
    "proxy error. Check that redcap_url is the API URL (ending in /api/) and that the API "
    "is reachable without a browser login."
)
CONNECTION_HELP = (
    "Could not get an answer from REDCap at {url} during {call} after {tries} tries: "
    "{reason}. Check the URL, your network/VPN, and whether the server is up; raise "
    "timeout_s for very large projects."
)


@dataclass
class Traffic:
    """What crossed the wire: the account a pull reports (never the payloads themselves)."""

    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    #: bytes received per call name (what a pull's bytes went on)
    received_by_call: dict[str, int] = field(default_factory=dict)

    @property
    def bytes_total(self) -> int:
        return self.bytes_sent + self.bytes_received


class _HttpStatusError(requests.RequestException):
    """Raised by the response hook for HTTP >= 400. A ``RequestException`` on purpose: PyCap's
    own ``except RedcapError`` (e.g. in ``is_longitudinal``) must keep working."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(f"HTTP {status}: {message}")


class _HtmlAnswer(requests.RequestException):
    """The server answered with a web page (a login page, a proxy's error page)."""

    def __init__(self, status: int, title: str):
        super().__init__(f"HTML answer (HTTP {status})")
        self.status = status
        self.title = title


_HTML_START = re.compile(rb"^\s*(<!doctype html|<html|<head|<body)", re.IGNORECASE)
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def html_title(response: requests.Response, body: bytes) -> str | None:
    """The page title when ``body`` is an HTML page ("(untitled page)" without one), else
    None. REDCap's API never answers these exports with HTML: its errors are JSON, CSV or
    XML."""
    kind = response.headers.get("Content-Type", "").lower()
    if "text/html" not in kind and not _HTML_START.match(body[:512]):
        return None
    if "text/html" in kind and body.lstrip()[:1] in (b"{", b"["):
        return None  # JSON sent with a wrong content type
    match = _HTML_TITLE.search(body[:20000])
    title = " ".join(match.group(1).decode("utf-8", "replace").split()) if match else ""
    return title[:80] or "(untitled page)"


class _NotJson(Exception):
    """A complete answer that is not the JSON asked for (a truncated one is a
    ``ChunkedEncodingError``, retried)."""

    def __init__(self, excerpt: str):
        super().__init__(excerpt)
        self.excerpt = excerpt


class _TimeoutAdapter(HTTPAdapter):
    """An adapter with a default timeout: PyCap never passes one, requests defaults to none."""

    def __init__(self, timeout_s: float, retry: Retry):
        self.timeout_s = timeout_s
        super().__init__(max_retries=retry)

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().send(request, **kwargs)


def redcap_error_message(body: bytes | str) -> str:
    """REDCap's own message from an error body in any of its envelopes (json/csv/xml)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict) and "error" in parsed:
            return str(parsed["error"])
    except ValueError:
        pass
    match = re.search(r"<error>(.*?)</error>", text, flags=re.S | re.I)
    if match:
        return match.group(1).strip()
    if text.upper().startswith("ERROR:"):
        return text[6:].strip()
    return text[:300]


def check_url(url: str | None) -> str:
    """The URL, if it is a REDCap API URL; ConfigError naming the fix otherwise."""
    if not url or not isinstance(url, str) or not url.endswith("/api/"):
        raise ConfigError(WRONG_URL_HELP.format(url=url), setting="redcap_url")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"REDCap API URL {url!r} must start with https:// (or http:// for a local sandbox)",
            setting="redcap_url",
        )
    host = urlsplit(url).hostname or ""
    if url.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("REDCap URL %s is not https: the API token would travel unencrypted", url)
    return url


def check_token(token: str | None) -> str:
    if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        raise RedcapAuthError(MALFORMED_TOKEN_HELP)
    return token


class _Project(redcap.Project):
    """PyCap's Project, routed through our session.

    PyCap 2.7.0 builds ``_RCRequest(url, payload, config)`` without a session, so the module
    global one is used; this override (mirroring ``Base._call_api`` of the pinned version)
    passes ours. It is the only PyCap internal we touch.
    """

    def __init__(self, url: str, token: str, session: requests.Session, verify: bool):
        super().__init__(url, token, verify_ssl=verify)
        self._sgbm_session = session

    def __repr__(self) -> str:
        return f"<REDCap project at {self.url}>"

    def _call_api(self, payload, return_type, file=None):  # type: ignore[no-untyped-def]
        from redcap.request import _ContentConfig, _RCRequest

        config = _ContentConfig(
            return_empty_json=return_type == "empty_json",
            return_bytes=return_type == "file_map",
        )
        rcr = _RCRequest(url=self.url, payload=payload, config=config, session=self._sgbm_session)
        return rcr.execute(
            verify_ssl=self.verify_ssl,
            return_headers=return_type == "file_map",
            file=file,
            **self._request_kwargs,
        )


class RedcapClient:
    """REDCap API access with timeouts, retries, byte accounting and named errors: PyCap's
    exports, and :meth:`post` for the query backends' raw calls (module docstring: the retry
    policy).

    Args:
        url: the REDCap API URL (must end in ``/api/``).
        token: the project's API token (from Settings.token(); never from a file).
        timeout_s: connect and read timeout per HTTP request.
        retries: retries per call on 5xx, timeouts and dropped connections.
        backoff_s: first retry delay; doubles each retry (urllib3 ``backoff_factor``).
        verify_tls: verify the server certificate.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout_s: float = 30.0,
        retries: int = 5,
        backoff_s: float = 0.5,
        verify_tls: bool = True,
    ):
        self.url = check_url(url)
        check_token(token)
        self.retries = retries
        self.backoff_s = backoff_s
        self.traffic = Traffic()
        self._current_call = ""
        self.session = self._build_session(timeout_s, retries, backoff_s)
        #: for writes that are not idempotent: only a connection that never opened is retried
        self.write_session = self._build_session(timeout_s, retries, backoff_s,
                                                 resend_safe=False)
        self._token = token
        self._verify_tls = verify_tls
        self._project = _Project(self.url, token, self.session, verify_tls)

    def refresh(self, metadata: list[dict[str, Any]] | None = None) -> None:
        """Forget what PyCap cached about the project (metadata, record id field): a long-lived
        client must see a dictionary change on its next pull. ``metadata``: rows known to be
        current (a cached dictionary), given to PyCap as its metadata cache, so that its
        record exports (which name every field) need no metadata export."""
        self._project = _Project(self.url, self._token, self.session, self._verify_tls)
        if metadata is not None:
            self._project._metadata = metadata  # what PyCap's own .metadata property caches

    def __repr__(self) -> str:
        return f"RedcapClient(url={self.url!r}, token=<hidden>)"

    def _build_session(self, timeout_s: float, retries: int, backoff_s: float, *,
                       resend_safe: bool = True) -> requests.Session:
        retry = Retry(
            total=retries,
            connect=retries,  # the request was never sent: always safe to try again
            read=retries if resend_safe else 0,
            status=retries if resend_safe else 0,
            other=0,  # TLS and the like: retrying will not help, say what is wrong at once
            # REDCap's API is all POST: every POST may be retried when resending is harmless,
            # none (after it was sent) otherwise (an empty set would mean "any" in urllib3 2)
            allowed_methods=None if resend_safe else frozenset({"GET", "HEAD"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=backoff_s,
            raise_on_status=False,  # hand back the last 5xx so the hook can read REDCap's text
            respect_retry_after_header=True,
        )
        session = requests.Session()
        adapter = _TimeoutAdapter(timeout_s, retry)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.hooks["response"].append(self._on_response)
        return session

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        history = getattr(getattr(response.raw, "retries", None), "history", None) or ()
        self.traffic.retries += len(history)
        self.traffic.requests += 1 + len(history)
        sent = response.request.body or b""
        self.traffic.bytes_sent += len(sent) * (1 + len(history))
        body = response.content  # read now, so a drop mid-body fails inside the retried call
        self.traffic.bytes_received += len(body)
        by_call = self.traffic.received_by_call
        by_call[self._current_call] = by_call.get(self._current_call, 0) + len(body)
        title = html_title(response, body)
        if title is not None:
            raise _HtmlAnswer(response.status_code, title)
        if response.status_code >= 400:
            raise _HttpStatusError(response.status_code, redcap_error_message(body))

    # -- calling -------------------------------------------------------------------------

    def call(self, name: str, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        """Run one call; retry drops during the body read when resending is harmless; map
        every failure to a named error."""
        self.traffic.calls[name] = self.traffic.calls.get(name, 0) + 1
        self._current_call = name
        retrying = _TenacityRetrying(
            retry=retry_if_exception_type(
                (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
            ),
            stop=stop_after_attempt(self.retries + 1 if idempotent else 1),
            wait=wait_exponential(multiplier=self.backoff_s, max=30),
            reraise=True,
            before_sleep=self._count_retry,
        )
        started = time.perf_counter()
        try:
            result = retrying(fn)
        except Exception as exc:  # noqa: BLE001 - mapped to a named error below
            raise self._map_error(name, exc) from exc
        log.debug("%s answered in %.3f s", name, time.perf_counter() - started)
        return result

    def _count_retry(self, state: Any) -> None:
        self.traffic.retries += 1
        log.info("retrying after a connection dropped mid-answer (attempt %d)",
                 state.attempt_number)

    def _map_error(self, call: str, exc: Exception) -> Exception:
        if isinstance(exc, _HtmlAnswer):
            return RedcapApiError(
                HTML_ANSWER_HELP.format(host=urlsplit(self.url).netloc, call=call,
                                        status=exc.status, title=exc.title),
                call=call,
                status_code=exc.status,
            )
        if isinstance(exc, _NotJson):
            return RedcapApiError(f"REDCap's answer to {call} is not JSON: {exc.excerpt}",
                                  call=call, redcap_message=exc.excerpt)
        if isinstance(exc, _HttpStatusError):
            if exc.status in (401, 403):
                return RedcapAuthError(
                    BAD_TOKEN_HELP.format(call=call, status=exc.status, message=exc.message),
                    call=call,
                    status_code=exc.status,
                    redcap_message=exc.message,
                )
            return RedcapApiError(
                f"REDCap refused {call} (HTTP {exc.status}): {exc.message}",
                call=call,
                status_code=exc.status,
                redcap_message=exc.message,
            )
        if isinstance(exc, requests.exceptions.SSLError):
            return RedcapConnectionError(
                TLS_HELP.format(url=self.url, call=call, reason=_reason(exc)), call=call
            )
        if isinstance(
            exc,
            (
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.RetryError,
            ),
        ):
            return RedcapConnectionError(
                CONNECTION_HELP.format(
                    url=self.url, call=call, tries=self.retries + 1, reason=_reason(exc)
                ),
                call=call,
            )
        if isinstance(exc, requests.RequestException):  # PyCap's RedcapError: an error body
            message = redcap_error_message(str(exc.args[0]) if exc.args else str(exc))
            return RedcapApiError(
                f"REDCap answered {call} with an error: {message}",
                call=call,
                redcap_message=message,
            )
        if isinstance(exc, (AssertionError, ValueError)):
            return RedcapApiError(f"{call} could not be sent: {exc}", call=call)
        return exc

    def post(self, call: str, data: dict[str, Any], *, params: dict[str, str] | None = None,
             idempotent: bool = False) -> Any:
        """One raw API call (form body ``data`` plus the token, ``format=json``); the parsed
        JSON answer. ``idempotent``: sending it twice is harmless (every export; a write
        that says so), so it is retried like a read; a write that does not say so is only
        retried when the connection never opened (module docstring)."""
        payload = {"token": self._token, "format": "json", "returnFormat": "json", **data}
        session = self.session if idempotent else self.write_session

        def once() -> Any:
            response = session.post(self.url, data=payload, params=params,
                                    verify=self._verify_tls)
            try:
                return response.json()
            except ValueError as exc:
                raise _NotJson(redcap_error_message(response.content)) from exc

        return self.call(call, once, idempotent=idempotent)

    # -- the exports a pull needs -------------------------------------------------------

    def export_metadata(self) -> list[dict[str, Any]]:
        """The metadata rows; PyCap keeps them, so export_records needs no second call."""
        rows = self.call("export_metadata", lambda: self._project.metadata)
        if not isinstance(rows, list):
            raise RedcapApiError("REDCap's metadata answer is not a list of fields",
                                 call="export_metadata")
        return rows

    def export_repeating(self) -> list[dict[str, Any]]:
        """Repeating instruments/events; [] for projects without any (REDCap errors then)."""
        try:
            rows = self.call(
                "export_repeating_instruments_events",
                lambda: self._project.export_repeating_instruments_events(format_type="json"),
            )
        except RedcapApiError as exc:
            if isinstance(exc, (RedcapAuthError, RedcapConnectionError)):
                raise
            return []
        return rows if isinstance(rows, list) else []

    def export_dags(self) -> list[dict[str, Any]]:
        try:
            rows = self.call("export_dags", lambda: self._project.export_dags(format_type="json"))
        except RedcapApiError as exc:
            if isinstance(exc, (RedcapAuthError, RedcapConnectionError)):
                raise
            return []
        return rows if isinstance(rows, list) else []

    def export_event_mapping(self) -> list[dict[str, Any]]:
        """Form-event mapping; [] for a classic project (REDCap answers with an error)."""
        try:
            rows = self.call(
                "export_instrument_event_mappings",
                lambda: self._project.export_instrument_event_mappings(format_type="json"),
            )
        except RedcapApiError as exc:
            if isinstance(exc, (RedcapAuthError, RedcapConnectionError)):
                raise
            return []
        return rows if isinstance(rows, list) else []

    def export_records_csv(
        self,
        *,
        fields: list[str] | None = None,
        records: list[str] | None = None,
        date_begin: datetime | None = None,
    ) -> str:
        return self.call(
            "export_records",
            lambda: self._project.export_records(
                format_type="csv",
                fields=fields,
                records=records,
                export_data_access_groups=True,
                date_begin=date_begin,
            ),
        )

    def export_logging(self, *, begin_time: datetime | None = None,
                       log_type: str | None = None) -> list[dict[str, Any]]:
        rows = self.call(
            "export_logging",
            lambda: self._project.export_logging(format_type="json", begin_time=begin_time,
                                                 log_type=log_type),  # type: ignore[arg-type]
        )
        return rows if isinstance(rows, list) else []


def _reason(exc: BaseException) -> str:
    """The innermost cause, without the request payload (the token lives there)."""
    inner: BaseException = exc
    while inner.args and isinstance(inner.args[0], BaseException):
        inner = inner.args[0]
    reason = getattr(inner, "reason", None)
    return str(reason or inner)[:300]
