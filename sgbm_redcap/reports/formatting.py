"""Number formatting shared by every table: n (%), median (IQR), estimates with CIs.

One place, so that the report says things the same way everywhere: percentages to one
decimal, "NR" for a median not reached, "–" for nothing to show, and always the number
missing next to a summary of a variable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date, datetime

import numpy as np
import pandas as pd

DASH = "–"


def pct(n: float, d: float, digits: int = 1) -> str:
    """``n / d`` as a percentage; a dash when the denominator is 0."""
    if not d:
        return DASH
    return f"{100.0 * n / d:.{digits}f}%"


def n_pct(n: int, d: int, digits: int = 1) -> str:
    """``n (x.x%)``; only ``0`` when the denominator is 0."""
    if not d:
        return str(int(n))
    return f"{int(n)} ({100.0 * n / d:.{digits}f}%)"


def num(x: float | None, digits: int = 1) -> str:
    """A number, or a dash for missing; ``inf`` reads "NR" (not reached)."""
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return DASH
    if isinstance(x, float) and math.isinf(x):
        return "NR"
    return f"{x:.{digits}f}"


def median_iqr(values: Iterable[float], digits: int = 1) -> str:
    """``median (Q1–Q3)`` of the non-missing values; a dash when there are none."""
    arr = pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce").dropna()
    if arr.empty:
        return DASH
    q1, med, q3 = np.percentile(arr.to_numpy(dtype=float), [25, 50, 75])
    return f"{med:.{digits}f} ({q1:.{digits}f}–{q3:.{digits}f})"


def median_range(values: Iterable[float], digits: int = 1) -> str:
    arr = pd.to_numeric(pd.Series(list(values), dtype="object"), errors="coerce").dropna()
    if arr.empty:
        return DASH
    return f"{arr.median():.{digits}f} ({arr.min():.{digits}f}–{arr.max():.{digits}f})"


def estimate_ci(est: float | None, lo: float | None, hi: float | None, digits: int = 1,
                scale: float = 1.0, suffix: str = "") -> str:
    """``est (lo–hi)`` with an optional scale (100 for proportions) and unit suffix."""
    parts = [num(None if v is None else v * scale, digits) for v in (est, lo, hi)]
    return f"{parts[0]}{suffix} ({parts[1]}–{parts[2]})"


def proportion_ci(x: int, n: int, lo: float, hi: float, digits: int = 1) -> str:
    """``x/n, p% (lo–hi)`` for a proportion whose CI bounds are fractions."""
    if not n:
        return f"0/0{' '}{DASH}"
    return f"{x}/{n}, {100.0 * x / n:.{digits}f}% ({100.0 * lo:.{digits}f}–{100.0 * hi:.{digits}f})"


def fmt_date(d: date | datetime | pd.Timestamp | None) -> str:
    if d is None or d is pd.NaT or (isinstance(d, float) and math.isnan(d)):
        return DASH
    if isinstance(d, pd.Timestamp | datetime):
        return d.strftime("%Y-%m-%d")
    return d.isoformat()


#: comparison operators as a reader writes them
_OPERATORS = ((">=", "≥"), ("<=", "≤"))


def reader_text(text: str) -> str:
    """``text`` as a reader sees it: "≥"/"≤" for ">="/"<=" (one space after the sign,
    as everywhere else in the report: "≥ 3")."""
    for ascii_op, sign in _OPERATORS:
        text = re.sub(rf"{re.escape(ascii_op)}\s*", f"{sign} ", text)
    return text


def missing_row(label: str, n: int) -> bool:
    """Whether a table leaves out the row ``label`` with count ``n``: a row of patients with
    nothing recorded ("Pattern not recorded", "Missing") is shown only when it has any."""
    text = label.strip().lower()
    return n == 0 and (text == "missing" or text.endswith("not recorded"))


def cell(value: object, digits: int = 1) -> str:
    """Any value a listing may hold, as display text (the template escapes it)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return DASH
    if isinstance(value, float):
        return num(value, digits)
    if isinstance(value, date | datetime | pd.Timestamp):
        return fmt_date(value)
    text = str(value)
    return text if text else DASH
