"""Bad input never shows a traceback: one line naming the problem and what to do, and the
README's exit code (2 usage or configuration, 1 failure)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from sgbm_redcap.cli import main
from sgbm_redcap.dictionary.project import load_project
from sgbm_redcap.synthetic.cohort import generate_cohort

TOKEN = "A" * 32


@pytest.fixture(autouse=True)
def no_configured_redcap(tmp_path, monkeypatch):
    """Every test starts where no REDCap is configured (no settings file, no variables)."""
    monkeypatch.chdir(tmp_path)
    for var in ("SGBM_REDCAP_REDCAP_URL", "SGBM_REDCAP_TIMEOUT_S", "SGBM_REDCAP_TOKEN"):
        monkeypatch.delenv(var, raising=False)


def invoke(args, env=None):
    return CliRunner().invoke(main, args, env=env)


def error_line(result) -> str:
    """The one ``Error:`` line on stderr, after checking there is no traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exc_info
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def own_error(result, code: int) -> str:
    """A library error: exactly one line on stderr, and ``code``."""
    line = error_line(result)
    assert result.exit_code == code, result.output
    assert result.stderr.strip() == line, result.stderr
    return line


@pytest.fixture
def not_a_folder(tmp_path):
    """A path no one can write to, root included: it goes through a regular file."""
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    return blocker / "out"


@pytest.fixture(scope="module")
def export_csv(tmp_path_factory):
    project = load_project("redcap_project")
    path = tmp_path_factory.mktemp("export") / "records.csv"
    generate_cohort(n=12, seed=5, problem_rate=0.0).to_frame(
        dictionary=project.dictionary, with_dag=True).to_csv(path, index=False)
    return path


# -- outputs that cannot be written ------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["pull", "--url", "http://127.0.0.1:9/api/", "--out", "{out}"],
    ["report", "monthly", "--sandbox", "--no-pdf", "--out", "{out}"],
    ["report", "quality", "--sandbox", "--no-pdf", "--out", "{out}"],
    ["report", "codebook", "--no-pdf", "--out", "{out}"],
    ["demo", "--no-pdf", "--out", "{out}"],
    ["sandbox", "seed", "--data", "{out}"],
    ["sandbox", "seed", "--data", "sb", "--manifest", "{out}/m.json"],
    ["dictionary", "build-xml", "-o", "{out}/study.xml"],
])
def test_an_unwritable_output_is_one_line_and_exit_2(args, not_a_folder):
    result = invoke([a.replace("{out}", str(not_a_folder)) for a in args],
                    env={"SGBM_REDCAP_TOKEN": TOKEN})
    line = own_error(result, 2)
    assert "cannot write to" in line and str(not_a_folder.parent) in line


# -- the sandbox server ------------------------------------------------------------------

def test_sandbox_serve_on_a_busy_port_is_refused(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = invoke(["sandbox", "serve", "--port", str(port), "--data", str(tmp_path)])
    line = own_error(result, 2)
    assert f"port {port} on 127.0.0.1 is already in use" in line and "--port" in line


def test_sandbox_serve_on_port_99999_is_a_usage_error(tmp_path):
    result = invoke(["sandbox", "serve", "--port", "99999", "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert "'--port': 99999 is not in the range 0<=x<=65535" in error_line(result)


# -- the scheduler's timetable -----------------------------------------------------------

@pytest.mark.parametrize(("args", "said"), [
    (["--sweep-at", "25:00"], "'--sweep-at': '25:00' is not a time of day (HH:MM"),
    (["--report-at", "7"], "'--report-at': '7' is not a time of day"),
    (["--report-day", "40"], "'--report-day': 40 is not in the range 1<=x<=31"),
])
def test_schedule_refuses_an_impossible_timetable(args, said):
    result = invoke(["schedule", "--once", *args])
    assert result.exit_code == 2 and said in error_line(result)


def test_a_job_at_an_impossible_time_is_a_configuration_error():
    from sgbm_redcap.errors import ConfigError
    from sgbm_redcap.scheduler import Job

    with pytest.raises(ConfigError, match="not a time of day"):
        Job("sweep", lambda: None, "daily", "25:00")
    with pytest.raises(ConfigError, match="not a day of the month"):
        Job("report", lambda: None, "monthly", "07:00", 40)


# -- the dictionary ----------------------------------------------------------------------

def test_lint_of_a_missing_path_is_refused(tmp_path):
    missing = tmp_path / "no_such.csv"
    line = own_error(invoke(["dictionary", "lint", str(missing)]), 2)
    assert f"{missing} does not exist" in line and "dictionary CSV" in line


def test_lint_of_an_empty_folder_is_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    line = own_error(invoke(["dictionary", "lint", str(empty)]), 2)
    assert f"{empty} holds no dictionary" in line and "project folder" in line


# -- the data cut-off --------------------------------------------------------------------

def test_a_cutoff_in_the_future_is_refused_unless_forced(export_csv):
    args = ["checks", "run", "--records", str(export_csv), "--cutoff", "2999-01-01"]
    line = own_error(invoke(args), 2)
    assert "cut-off 2999-01-01 is in the future" in line and "--force" in line
    forced = invoke([*args, "--force"])
    assert forced.exit_code in (0, 1) and "findings" in forced.output, forced.output


def test_a_cutoff_before_the_first_enrolment_is_refused_unless_forced(export_csv, tmp_path):
    args = ["report", "monthly", "--records", str(export_csv), "--cutoff", "2000-01-31",
            "--out", str(tmp_path / "out"), "--no-pdf", "--no-checks"]
    line = own_error(invoke(args), 2)
    assert "cut-off 2000-01-31 is before the first enrolment (20" in line
    assert not (tmp_path / "out" / "monthly_report_2000-01-31.html").exists()


# -- settings ----------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["pull"], ["sweep"], ["checks", "run"], ["eligibility"], ["report", "monthly"],
    ["report", "quality"], ["report", "listings"], ["report", "codebook"], ["schedule"],
])
def test_a_timeout_that_is_not_a_number_exits_2_from_every_command(args):
    result = invoke(args, env={"SGBM_REDCAP_TIMEOUT_S": "abc"})
    line = own_error(result, 2)
    assert "timeout_s" in line and "SGBM_REDCAP_TIMEOUT_S" in line


@pytest.mark.parametrize("args", [
    ["pull"], ["sweep"], ["sweep", "--dry-run"], ["checks", "run"], ["eligibility"],
    ["report", "monthly"], ["report", "quality"], ["report", "listings"],
])
def test_without_a_redcap_url_or_sandbox_commands_say_how_to_configure_one(args):
    line = own_error(invoke(args), 2)
    assert "No REDCap URL configured" in line and "--sandbox" in line and "redcap_url" in line


def test_the_sandbox_is_used_when_asked_and_says_so(tmp_path):
    result = invoke(["eligibility", "--sandbox", "--failing"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].startswith(
        "Using the embedded sandbox REDCap with the SYNTHETIC cohort (--sandbox)")
    assert "record_id" in result.stdout


# -- a server that is not REDCap's API ---------------------------------------------------

class _LoginPage(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        page = b"<!DOCTYPE html><html><head><title>Log in</title></head><body/></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)


def test_a_server_answering_with_an_html_page_is_named_with_its_host(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LoginPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    try:
        result = invoke(["pull", "--url", f"http://{host}/api/", "--cache-dir",
                         str(tmp_path / "c")],
                        env={"SGBM_REDCAP_TOKEN": TOKEN, "SGBM_REDCAP_RETRIES": "0"})
    finally:
        server.shutdown()
        server.server_close()
    line = own_error(result, 1)
    assert f"REDCap at {host} answered export_metadata with an HTML page (HTTP 200: Log in)" \
        in line and "Expecting value" not in line
