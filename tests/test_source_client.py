"""The PyCap wrapper over real HTTP on 127.0.0.1: timeouts, retries with backoff on 5xx and
dropped connections, named errors (URL, token, REDCap's message, TLS), and a proof that the
token never shows up in logs, output, exceptions or reprs."""

from __future__ import annotations

import logging
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pandas as pd
import pytest
from test_source_remote import TOKEN, FakeRedcap

from sgbm_redcap.config import Settings
from sgbm_redcap.errors import (
    ConfigError,
    RedcapApiError,
    RedcapAuthError,
    RedcapConnectionError,
    SgbmRedcapError,
)
from sgbm_redcap.source import RedcapSource
from sgbm_redcap.source.client import RedcapClient


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        server = self.server
        server.hits += 1
        fault = server.faults.pop(0) if server.faults else None
        if fault == "drop":  # close without a word: a dropped connection
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "500":
            self._answer(500, b'{"error":"The server encountered an error processing your request."}')
            return
        if fault == "truncate":  # headers promise more than we send, then hang up
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"record_id\n1\n")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault == "slow":
            threading.Event().wait(server.slow_s)
        status, _headers, text = server.app(SimpleNamespace(body=body))
        self._answer(status, text.encode() if isinstance(text, str) else text)

    def _answer(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def local_redcap(app, faults=()):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.app, server.faults, server.hits, server.slow_s = app, list(faults), 0, 0.0
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/api/"
    finally:
        server.shutdown()
        server.server_close()


def settings(**kw) -> Settings:
    base = dict(retries=3, backoff_s=0.0, timeout_s=5.0)
    base.update(kw)
    return Settings(**base)


def source(url: str, tmp_path=None, **kw) -> RedcapSource:
    return RedcapSource(url, TOKEN, settings=settings(**kw), cache_dir=False, progress=False)


def test_faults_are_retried_and_the_tables_equal_a_clean_pull():
    fake = FakeRedcap()
    with local_redcap(fake) as (_srv, url):
        clean = source(url).tables()
    faults = ["500", "drop", "truncate", "500", "drop"] * 2
    with local_redcap(fake, faults=faults) as (srv, url):
        faulty_source = source(url, retries=5)
        faulty = faulty_source.tables()
        assert not srv.faults, "every injected fault was met"
    assert faulty.pull.traffic.retries >= len(faults)
    for form in clean:
        pd.testing.assert_frame_equal(clean[form], faulty[form])
    pd.testing.assert_frame_equal(clean.raw, faulty.raw)


def test_persistent_500s_end_in_a_named_error_with_redcaps_message():
    with local_redcap(FakeRedcap(), faults=["500"] * 10) as (srv, url):
        with pytest.raises(RedcapApiError) as info:
            source(url, retries=2).tables()
        assert srv.hits == 3  # first try + 2 retries
    assert info.value.status_code == 500
    assert info.value.call == "export_metadata"
    assert "encountered an error" in info.value.redcap_message


def test_backoff_grows_exponentially(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("urllib3.util.retry.time.sleep", slept.append)
    with local_redcap(FakeRedcap(), faults=["500"] * 3) as (_srv, url):
        client = RedcapClient(url, TOKEN, retries=3, backoff_s=0.1)
        client.export_metadata()
    # urllib3 skips the wait before the first retry, then doubles: 0.2, 0.4 (backoff 0.1)
    assert slept == pytest.approx([0.2, 0.4])


def test_timeout_is_a_named_connection_error():
    with local_redcap(FakeRedcap(), faults=["slow"] * 5) as (srv, url):
        srv.slow_s = 1.0
        with pytest.raises(RedcapConnectionError) as info:
            source(url, timeout_s=0.2, retries=1).tables()
    assert info.value.call == "export_metadata"
    assert "timeout_s" in str(info.value)


def test_refused_connection_is_named():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(RedcapConnectionError) as info:
        source(f"http://127.0.0.1:{port}/api/", retries=1).tables()
    assert "Could not get an answer from REDCap" in str(info.value)


def test_tls_problem_is_named():
    with local_redcap(FakeRedcap()) as (_srv, url):
        tls_url = url.replace("http://", "https://")
        with pytest.raises(RedcapConnectionError) as info:
            source(tls_url, retries=3).tables()
    assert "TLS problem" in str(info.value)
    assert "REQUESTS_CA_BUNDLE" in str(info.value)


@pytest.mark.parametrize("url", ["https://redcap.example.org/", "https://redcap.example.org/api",
                                 "redcap.example.org/api/", ""])
def test_wrong_url_is_refused_before_any_call(url):
    with pytest.raises(ConfigError) as info:
        RedcapClient(url, TOKEN)
    assert info.value.setting == "redcap_url"


def test_malformed_token_is_refused_without_showing_it():
    bad = "not-a-token-" + "x" * 10
    with pytest.raises(RedcapAuthError) as info:
        RedcapClient("http://127.0.0.1:9/api/", bad)
    assert bad not in str(info.value)


def test_redcap_error_body_on_http_200_is_still_an_error():
    def app(request):
        return 200, {}, '{"error":"The following values in the parameter \\"fields\\" are not valid: \'x\'"}'

    with local_redcap(app) as (_srv, url):
        with pytest.raises(RedcapApiError) as info:
            RedcapClient(url, TOKEN, retries=0).export_metadata()
    assert "are not valid" in info.value.redcap_message


def _everything_said(caplog, capsys, *objects) -> str:
    out = capsys.readouterr()
    parts = [out.out, out.err, caplog.text]
    parts += [repr(r.args) for r in caplog.records]
    parts += [repr(o) for o in objects] + [str(o) for o in objects]
    return "\n".join(parts)


def test_token_is_never_printed_logged_or_shown(caplog, capsys, monkeypatch, tmp_path):
    caplog.set_level(logging.DEBUG)  # urllib3 and our own debug lines included
    monkeypatch.setenv("SGBM_REDCAP_TOKEN", TOKEN)
    fake = FakeRedcap()
    seen: list[object] = []
    with local_redcap(fake, faults=["500", "drop"]) as (_srv, url):
        cfg = Settings(redcap_url=url, retries=2, backoff_s=0.0, cache_dir=tmp_path / "c")
        ok = RedcapSource(settings=cfg, progress=True)  # token from the environment
        tables = ok.tables()
        ok.tables()  # and a sweep
        seen += [cfg, ok, ok.client, tables, tables.pull, ok.last_pull]
        # failing pulls: wrong token for this project, then a dead server
        with pytest.raises(SgbmRedcapError) as rejected:
            RedcapSource(url, "E" * 32, settings=cfg, cache_dir=False).tables()
        seen += [rejected.value, rejected.value.__cause__]
    with pytest.raises(SgbmRedcapError) as unreachable:
        RedcapSource(url, TOKEN, settings=cfg.with_overrides(retries=0), cache_dir=False).tables()
    seen += [unreachable.value, unreachable.value.__cause__]
    said = _everything_said(caplog, capsys, *seen)
    assert "export_records" in said or "pull" in said  # we did capture real output
    assert TOKEN not in said
    assert not any(TOKEN in p.read_text(errors="replace")
                   for p in (tmp_path / "c").iterdir() if p.is_file())


@pytest.mark.parametrize(("status", "page", "title"), [
    (200, "<!DOCTYPE html><html><head><title>REDCap | Log In</title></head>"
          "<body><form>user</form></body></html>", "REDCap | Log In"),
    (502, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
     "502 Bad Gateway"),
])
def test_an_html_page_is_named_as_such_with_the_host(status, page, title):
    def app(request):
        return status, {}, page

    with local_redcap(app) as (_srv, url):
        with pytest.raises(RedcapApiError) as info:
            RedcapClient(url, TOKEN, retries=0).export_metadata()
    message = str(info.value)
    host = url.split("/")[2]
    assert f"REDCap at {host} answered export_metadata with an HTML page" in message
    assert f"HTTP {status}: {title}" in message and "Expecting value" not in message
    assert info.value.status_code == status


# -- the one transport's retry policy for raw calls (the query backends' path) -------------

def _count_app(request):
    return 200, {}, '{"count": 1}'


@pytest.mark.parametrize("fault", ["500", "drop"])
def test_a_write_that_may_have_reached_redcap_is_not_resent(fault):
    """A 5xx or a dropped connection after the request was sent may mean REDCap applied it:
    a write that does not say it is idempotent is sent once and the error named."""
    with local_redcap(_count_app, faults=[fault] * 3) as (srv, url):
        client = RedcapClient(url, TOKEN, retries=3, backoff_s=0.0)
        with pytest.raises((RedcapApiError, RedcapConnectionError)) as info:
            client.post("import_records", {"content": "record", "data": "[]"})
        assert srv.hits == 1
    assert info.value.call == "import_records"


@pytest.mark.parametrize("fault", ["500", "drop"])
def test_reads_and_idempotent_writes_are_retried(fault):
    with local_redcap(_count_app, faults=[fault] * 2) as (srv, url):
        client = RedcapClient(url, TOKEN, retries=3, backoff_s=0.0)
        assert client.post("import_records", {"content": "record", "data": "[]"},
                           idempotent=True) == {"count": 1}
        assert srv.hits == 3
    assert client.traffic.calls == {"import_records": 1}


def test_a_write_is_retried_when_the_connection_never_opened(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("urllib3.util.retry.time.sleep", slept.append)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there: the request is never sent
    client = RedcapClient(f"http://127.0.0.1:{port}/api/", TOKEN, retries=2, backoff_s=0.1)
    with pytest.raises(RedcapConnectionError):
        client.post("import_records", {"content": "record", "data": "[]"})
    assert slept == pytest.approx([0.2])  # two retries: urllib3 waits before the second


def test_an_answer_that_is_not_json_is_named():
    with local_redcap(lambda request: (200, {}, "record_id\n1\n")) as (_srv, url):
        with pytest.raises(RedcapApiError) as info:
            RedcapClient(url, TOKEN, retries=0).post("export_records", {}, idempotent=True)
    assert "not JSON" in str(info.value) and info.value.call == "export_records"


def test_the_query_backends_use_the_one_transport():
    from sgbm_redcap.jobs.connection import make_backend
    from sgbm_redcap.queries import RedcapHttp

    backend = make_backend("records", "http://127.0.0.1:9/api/", TOKEN)
    assert type(backend.http) is RedcapClient and RedcapHttp is RedcapClient
