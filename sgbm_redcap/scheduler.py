"""The daily sweep and the monthly report on a timetable, with the ``schedule`` library.

* one lock file (``filelock``) shared by every job and by ``sgbm-redcap sweep``, so two runs
  never overlap (a run that finds the lock taken is skipped and logged);
* a run missed while the scheduler was down (the machine was off at 06:00) is caught up on
  start, from the last successful run recorded in a small JSON state file;
* structured logs: one JSON object per line with ``event``, ``job`` and timings
  (:class:`JsonFormatter`);
* REDCap unreachable after the retries stops the scheduler with :class:`SchedulerStopped`
  (the CLI exits 1) after a clear log line, instead of failing silently every day.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import schedule
from filelock import FileLock, Timeout

from sgbm_redcap.errors import ConfigError, RedcapConnectionError, SgbmRedcapError

log = logging.getLogger(__name__)

DEFAULT_LOCK = Path("out/.sgbm-redcap.lock")
DEFAULT_STATE = Path("out/.sgbm-redcap-schedule.json")


class SchedulerStopped(SgbmRedcapError):
    """The scheduler stopped because a job cannot reach REDCap; ``exit_code`` is 1."""

    exit_code = 1


@dataclass
class Job:
    """A job: ``daily`` at ``at`` (HH:MM), or ``monthly`` on ``day`` of the month at ``at``."""

    name: str
    func: Callable[[], Any]
    every: str = "daily"
    at: str = "06:00"
    day: int = 1

    def __post_init__(self) -> None:
        hh, _, mm = self.at.partition(":")
        if not (hh.isdigit() and mm.isdigit() and len(mm) == 2 and int(hh) < 24
                and int(mm) < 60):
            raise ConfigError(f"job {self.name}: {self.at!r} is not a time of day (HH:MM, "
                              "00:00 to 23:59)", setting="at")
        if self.every not in ("daily", "monthly"):
            raise ConfigError(f"job {self.name}: every must be 'daily' or 'monthly'",
                              setting="every")
        if not 1 <= self.day <= 31:
            raise ConfigError(f"job {self.name}: day {self.day} is not a day of the month "
                              "(1 to 31; 29 to 31 run on the 28th)", setting="day")

    def last_due(self, now: datetime) -> datetime:
        """The most recent scheduled time at or before ``now``."""
        hh, mm = (int(x) for x in self.at.split(":"))
        today = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
        if self.every == "daily":
            return today if today <= now else today - timedelta(days=1)
        this_month = today.replace(day=min(self.day, 28))
        if this_month <= now:
            return this_month
        prev = (this_month.replace(day=1) - timedelta(days=1)).replace(day=min(self.day, 28))
        return prev


class StudyScheduler:
    """Runs jobs under one lock and remembers their last successful run."""

    def __init__(self, jobs: list[Job], *, lock_path: str | Path = DEFAULT_LOCK,
                 state_path: str | Path = DEFAULT_STATE,
                 clock: Callable[[], datetime] = datetime.now) -> None:
        self.jobs = jobs
        self.lock = FileLock(str(lock_path))
        Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
        self.state_path = Path(state_path)
        self.clock = clock

    # -- state ---------------------------------------------------------------------------
    def last_runs(self) -> dict[str, str]:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}

    def _record(self, job: Job, when: datetime) -> None:
        state = self.last_runs()
        state[job.name] = when.isoformat(timespec="seconds")
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def missed(self) -> list[Job]:
        """Jobs whose last scheduled time passed without a successful run."""
        now, runs = self.clock(), self.last_runs()
        out = []
        for job in self.jobs:
            last = runs.get(job.name)
            if last is None or datetime.fromisoformat(last) < job.last_due(now):
                out.append(job)
        return out

    # -- running -------------------------------------------------------------------------
    def run_job(self, job: Job) -> bool:
        """Run ``job`` under the lock. False when another run holds the lock.
        REDCap unreachable after the retries raises :class:`SchedulerStopped`."""
        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            log.warning("job %s skipped: another run holds the lock %s", job.name,
                        self.lock.lock_file, extra={"event": "job_skipped", "job": job.name})
            return False
        started = time.perf_counter()
        log.info("job %s started", job.name, extra={"event": "job_started", "job": job.name})
        try:
            job.func()
        except RedcapConnectionError as exc:
            log.error("REDCap unreachable after retries during job %s: %s", job.name, exc,
                      extra={"event": "redcap_unreachable", "job": job.name})
            raise SchedulerStopped(f"job {job.name}: REDCap unreachable after retries") \
                from exc
        finally:
            self.lock.release()
        self._record(job, self.clock())
        log.info("job %s finished in %.1f s", job.name, time.perf_counter() - started,
                 extra={"event": "job_finished", "job": job.name,
                        "seconds": round(time.perf_counter() - started, 3)})
        return True

    def catch_up(self) -> list[str]:
        """Run every missed job once, now; returns their names."""
        done = []
        for job in self.missed():
            log.info("catching up missed job %s", job.name,
                     extra={"event": "catch_up", "job": job.name})
            if self.run_job(job):
                done.append(job.name)
        return done

    def register(self, sched: schedule.Scheduler) -> None:
        """Put the jobs on a ``schedule`` timetable (monthly = daily with a day check)."""
        for job in self.jobs:
            if job.every == "daily":
                sched.every().day.at(job.at).do(self.run_job, job).tag(job.name)
            else:
                sched.every().day.at(job.at).do(self._monthly, job).tag(job.name)

    def _monthly(self, job: Job) -> None:
        if self.clock().day == min(job.day, 28):
            self.run_job(job)

    def run_forever(self, *, poll_s: float = 30.0, stop: Callable[[], bool] | None = None,
                    sleep: Callable[[float], None] = time.sleep) -> None:
        """Catch up, then run the timetable until ``stop()`` is true (or forever)."""
        sched = schedule.Scheduler()
        self.register(sched)
        self.catch_up()
        while not (stop and stop()):
            sched.run_pending()
            sleep(poll_s)


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message and any ``extra`` keys."""

    _STANDARD = set(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created).isoformat(timespec="seconds"),
               "level": record.levelname, "logger": record.name,
               "message": record.getMessage()}
        out.update({k: v for k, v in vars(record).items()
                    if k not in self._STANDARD and k not in ("message", "asctime")})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)
