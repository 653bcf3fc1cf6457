"""The scheduler with injected jobs and clock: catch-up, the lock, state, exit on REDCap
unreachable, structured logs."""

from __future__ import annotations

import json
import logging
from datetime import datetime

import pytest
import schedule
from filelock import FileLock

from sgbm_redcap.errors import RedcapConnectionError
from sgbm_redcap.scheduler import Job, JsonFormatter, SchedulerStopped, StudyScheduler


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make(tmp_path, clock, calls):
    jobs = [Job("sweep", lambda: calls.append("sweep"), "daily", "06:00"),
            Job("report", lambda: calls.append("report"), "monthly", "07:00", day=1)]
    return StudyScheduler(jobs, lock_path=tmp_path / "lock", state_path=tmp_path / "s.json",
                          clock=clock)


def test_last_due_daily_and_monthly():
    daily, monthly = Job("d", print, "daily", "06:00"), Job("m", print, "monthly", "07:00", 1)
    assert daily.last_due(datetime(2026, 11, 25, 5, 0)) == datetime(2026, 11, 24, 6, 0)
    assert daily.last_due(datetime(2026, 11, 25, 6, 0)) == datetime(2026, 11, 25, 6, 0)
    assert monthly.last_due(datetime(2026, 11, 25, 5, 0)) == datetime(2026, 11, 1, 7, 0)
    assert monthly.last_due(datetime(2026, 12, 1, 6, 0)) == datetime(2026, 11, 1, 7, 0)


def test_first_start_catches_up_everything_then_nothing(tmp_path):
    calls: list[str] = []
    clock = Clock(datetime(2026, 11, 25, 9, 0))
    s = make(tmp_path, clock, calls)
    assert s.catch_up() == ["sweep", "report"] and calls == ["sweep", "report"]
    assert s.catch_up() == []
    clock.now = datetime(2026, 11, 26, 5, 59)   # before the next 06:00: nothing missed
    assert s.missed() == []
    clock.now = datetime(2026, 11, 27, 8, 0)    # the machine was off on the 26th and 27th
    assert [j.name for j in s.missed()] == ["sweep"]
    assert json.loads((tmp_path / "s.json").read_text())["sweep"] == "2026-11-25T09:00:00"


def test_a_held_lock_skips_the_run_and_does_not_record_it(tmp_path, caplog):
    calls: list[str] = []
    s = make(tmp_path, Clock(datetime(2026, 11, 25, 9, 0)), calls)
    with FileLock(str(tmp_path / "lock")), caplog.at_level(logging.WARNING):
        assert s.run_job(s.jobs[0]) is False
    assert calls == [] and "another run holds the lock" in caplog.text
    assert s.last_runs() == {}


def test_redcap_unreachable_stops_with_a_clear_log_line(tmp_path, caplog):
    def unreachable():
        raise RedcapConnectionError("no answer", call="export_records")

    s = StudyScheduler([Job("sweep", unreachable)], lock_path=tmp_path / "lock",
                       state_path=tmp_path / "s.json",
                       clock=Clock(datetime(2026, 11, 25, 9, 0)))
    with caplog.at_level(logging.ERROR), pytest.raises(SchedulerStopped) as err:
        s.catch_up()
    assert err.value.exit_code == 1
    assert "REDCap unreachable after retries during job sweep" in caplog.text
    assert s.last_runs() == {}            # a failed run is caught up next time
    assert not FileLock(str(tmp_path / "lock")).is_locked


def test_register_puts_jobs_on_the_schedule_timetable(tmp_path):
    s = make(tmp_path, Clock(datetime(2026, 11, 25, 9, 0)), [])
    sched = schedule.Scheduler()
    s.register(sched)
    assert sorted(str(j.at_time) for j in sched.jobs) == ["06:00:00", "07:00:00"]
    assert {next(iter(j.tags)) for j in sched.jobs} == {"sweep", "report"}


def test_monthly_job_runs_only_on_its_day(tmp_path):
    calls: list[str] = []
    clock = Clock(datetime(2026, 11, 2, 7, 0))
    s = make(tmp_path, clock, calls)
    s._monthly(s.jobs[1])
    clock.now = datetime(2026, 12, 1, 7, 0)
    s._monthly(s.jobs[1])
    assert calls == ["report"]


def test_run_forever_catches_up_then_polls_until_stopped(tmp_path):
    calls: list[str] = []
    s = make(tmp_path, Clock(datetime(2026, 11, 25, 9, 0)), calls)
    polls: list[float] = []
    s.run_forever(poll_s=0.0, stop=lambda: len(polls) >= 2, sleep=polls.append)
    assert calls == ["sweep", "report"] and len(polls) == 2


def test_json_formatter_keeps_the_extra_fields():
    record = logging.makeLogRecord({"msg": "job %s finished", "args": ("sweep",),
                                    "levelname": "INFO", "name": "x", "event": "job_finished",
                                    "job": "sweep", "seconds": 1.5})
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == "job sweep finished"
    assert (out["event"], out["job"], out["seconds"]) == ("job_finished", "sweep", 1.5)


def test_schedule_cli_exits_1_with_a_clear_line_when_redcap_is_unreachable(tmp_path,
                                                                           monkeypatch):
    import socket

    from click.testing import CliRunner

    from sgbm_redcap.cli.schedule import command as schedule_cli

    with socket.socket() as s:   # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SGBM_REDCAP_TOKEN", "A" * 32)
    monkeypatch.setenv("SGBM_REDCAP_REDCAP_URL", f"http://127.0.0.1:{port}/api/")
    monkeypatch.setenv("SGBM_REDCAP_RETRIES", "1")
    monkeypatch.setenv("SGBM_REDCAP_BACKOFF_S", "0.01")
    monkeypatch.setenv("SGBM_REDCAP_CACHE_DIR", str(tmp_path / "cache"))
    out = CliRunner().invoke(schedule_cli, ["--once", "--state", str(tmp_path / "s.json"),
                                            "--lock", str(tmp_path / "lock")])
    assert out.exit_code == 1, out.output
    assert "REDCap unreachable after retries" in out.output
    assert not (tmp_path / "s.json").exists()


def test_a_scheduled_monthly_run_writes_the_monthly_report(tmp_path, monkeypatch):
    """The job the ``schedule`` command registers renders the report ``sgbm-redcap report
    monthly --out <report_dir>`` renders: for the previous month's end, into report_dir."""
    from datetime import date

    from sweep_helpers import seeded_study

    from sgbm_redcap.jobs import load_study
    from sgbm_redcap.jobs.schedule import scheduled_monthly_report

    with seeded_study(tmp_path, n=12, problem_rate=0.0) as study:
        monkeypatch.setenv("SGBM_REDCAP_TOKEN", study.token)
        configured = load_study(redcap_url=study.url, report_dir=tmp_path / "reports",
                                cache_dir=tmp_path / "cache", backoff_s=0.01)
        job = Job("monthly_report",
                  lambda: scheduled_monthly_report(configured, pdf=False,
                                                   today=date(2026, 11, 25)),
                  "monthly", "07:00", 1)
        s = StudyScheduler([job], lock_path=tmp_path / "lock", state_path=tmp_path / "s.json",
                           clock=Clock(datetime(2026, 11, 25, 9, 0)))
        assert s.catch_up() == ["monthly_report"]
    html = tmp_path / "reports" / "monthly_report_2026-10-31.html"
    assert html.exists(), sorted(p.name for p in (tmp_path / "reports").glob("*"))
    text = html.read_text(encoding="utf-8")
    assert "Monthly interim report" in text and "2026-10-31" in text
    assert 'id="data-quality"' in text and "were not computed" not in text   # checks ran


@pytest.mark.parametrize(("flags", "pdf"), [([], True), (["--no-pdf"], False)])
def test_schedule_cli_passes_no_pdf_to_the_monthly_report_job(tmp_path, monkeypatch, flags, pdf):
    from click.testing import CliRunner

    from sgbm_redcap.cli import schedule as schedule_cli
    from sgbm_redcap.jobs import schedule as schedule_jobs

    ran: list[tuple[str, bool | None]] = []
    monkeypatch.setattr(schedule_jobs, "scheduled_sweep",
                        lambda study: ran.append(("sweep", None)))
    monkeypatch.setattr(schedule_jobs, "scheduled_monthly_report",
                        lambda study, *, pdf=True: ran.append(("monthly_report", pdf)))
    monkeypatch.setenv("SGBM_REDCAP_TOKEN", "A" * 32)
    monkeypatch.setenv("SGBM_REDCAP_REDCAP_URL", "http://127.0.0.1:9/api/")
    out = CliRunner().invoke(schedule_cli.command, ["--once", "--state", str(tmp_path / "s.json"),
                                                    "--lock", str(tmp_path / "lock"), *flags])
    assert out.exit_code == 0, out.output
    assert ("monthly_report", pdf) in ran
