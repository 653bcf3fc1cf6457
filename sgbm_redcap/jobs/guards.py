"""Checks every job makes at the door, before any work: can the outputs be written, and is
the data cut-off a day the data can speak for."""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd

from sgbm_redcap.errors import ConfigError, OutputError

FUTURE_CUTOFF_HELP = (
    "cut-off {cutoff} is in the future (today is {today}): no data exist for it yet; pick a "
    "date up to today, or pass --force to use it anyway."
)
EARLY_CUTOFF_HELP = (
    "cut-off {cutoff} is before the first enrolment ({first}): no patient would be counted; "
    "pick a later date, or pass --force to use it anyway."
)


def writable_dir(path: str | os.PathLike[str], *, option: str = "--out") -> Path:
    """``path`` as a folder that exists and can be written (created if needed)."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write to {option} {folder}: {exc.strerror or exc}; pick a "
                          f"folder you can write to", path=str(folder), option=option) from None
    return folder


def writable_file(path: str | os.PathLike[str], *, option: str = "--out") -> Path:
    """``path`` as a file that can be written: its folder exists (created if needed) and it
    is not a folder itself."""
    file = Path(path)
    if file.is_dir():
        raise OutputError(f"cannot write to {option} {file}: it is a folder; give a file name",
                          path=str(file), option=option)
    writable_dir(file.parent, option=option)
    if file.exists() and not os.access(file, os.W_OK):
        raise OutputError(f"cannot write to {option} {file}: permission denied",
                          path=str(file), option=option)
    return file


def check_cutoff_not_future(cutoff: date, *, today: date | None = None,
                            force: bool = False) -> None:
    """Refuse a cut-off after ``today`` (unless ``force``)."""
    today = today or date.today()
    if cutoff > today and not force:
        raise ConfigError(FUTURE_CUTOFF_HELP.format(cutoff=cutoff, today=today),
                          setting="cutoff")


def first_enrolment(raw: pd.DataFrame) -> date | None:
    """The earliest ``enrol_date`` of a flat export, or None without one."""
    if "enrol_date" not in raw.columns:
        return None
    dates = pd.to_datetime(raw["enrol_date"].astype("string").replace("", None),
                           errors="coerce", format="%Y-%m-%d")
    first = dates.min()
    return None if pd.isna(first) else first.date()


def check_cutoff_after_enrolment(cutoff: date, raw: pd.DataFrame, *,
                                 force: bool = False) -> None:
    """Refuse a cut-off before the first enrolment of ``raw`` (unless ``force``)."""
    first = first_enrolment(raw)
    if first is not None and cutoff < first and not force:
        raise ConfigError(EARLY_CUTOFF_HELP.format(cutoff=cutoff, first=first),
                          setting="cutoff")
