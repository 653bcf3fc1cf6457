"""Scalar semantics shared by both evaluators: what a REDCap value *is*.

A value is ``None`` (blank), ``str`` (raw data, quoted text), ``float`` (a number) or ``bool``
(a comparison result). The rules (docs/logic.md §Semantics):

* ``''`` and ``None`` are blank; blank is never 0.
* A string is numeric when it looks like a number (``"1"``, ``" 2.50"``, ``"-1e3"``).
* ``=``/``<>``: blank equals only blank; two numeric values compare as numbers
  (``"1.0" = 1``); anything else compares as text, case-sensitively.
* ``< <= > >=``: false when either side is blank; numbers as numbers, else text.
* Arithmetic on a blank or non-numeric operand, division by zero, or a non-finite result
  gives blank.

Both evaluators use the conversions below; the vectorised one applies them to the *distinct*
values of a column only.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta

NUMERIC_RE = re.compile(r"\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*")
INTEGER_RE = re.compile(r"\s*[-+]?[0-9]+\s*")

Value = None | str | float | bool

#: Seconds per datediff/calcdate unit. REDCap counts a year as 365.2425 days and a month as
#: 30.44 days.
UNIT_SECONDS: dict[str, float] = {
    "y": 365.2425 * 86400.0,
    "M": 30.44 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
}


def str_to_number(text: str) -> float | None:
    if text and NUMERIC_RE.fullmatch(text):
        x = float(text)
        return x if math.isfinite(x) else None
    return None


def to_number(v: Value) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return str_to_number(v)


def format_number(x: float) -> str:
    """How a computed number prints as text: integers without ``.0``, else 14 significant
    digits like PHP's default ``precision``."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.14g}"


def to_text(v: Value) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return format_number(v)
    return v


def truthy(v: Value) -> bool:
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, float):
        return v != 0.0
    if v == "":
        return False
    x = str_to_number(v)
    return x != 0.0 if x is not None else True


def signed_flag(v: Value) -> bool:
    """datediff's returnSigned: ``true``/``1`` or the text ``'true'`` (``'false'`` is false)."""
    if isinstance(v, str) and v.strip().lower() == "false":
        return False
    return truthy(v)


def is_blank(v: Value) -> bool:
    return v is None or v == ""


def finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


# -- dates -------------------------------------------------------------------------------

_DATE_PATTERNS = {
    "ymd": re.compile(
        r"\s*(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})"
        r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?\s*"
    ),
    "mdy": re.compile(
        r"\s*(?P<m>\d{1,2})[-/](?P<d>\d{1,2})[-/](?P<y>\d{4})"
        r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?\s*"
    ),
    "dmy": re.compile(
        r"\s*(?P<d>\d{1,2})[-/](?P<m>\d{1,2})[-/](?P<y>\d{4})"
        r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?\s*"
    ),
}


def parse_date(text: str, fmt: str | None = None) -> tuple[datetime, bool] | None:
    """``(moment, has_time)`` for a stored date/datetime, or ``None``.

    Raw REDCap data is always Y-M-D; the legacy ``'mdy'``/``'dmy'`` datediff argument
    allows the other orders as a fallback.
    """
    orders = ["ymd"] if fmt in (None, "ymd") else ["ymd", fmt]
    for order in orders:
        m = _DATE_PATTERNS[order].fullmatch(text)
        if m is None:
            continue
        try:
            moment = datetime(
                int(m["y"]), int(m["m"]), int(m["d"]),
                int(m["H"] or 0), int(m["M"] or 0), int(m["S"] or 0),
            )
        except ValueError:
            return None
        return moment, m["H"] is not None
    return None


def resolve_date(
    v: Value, fmt: str | None, today: date, now: datetime
) -> tuple[datetime, bool] | None:
    text = to_text(v).strip()
    if text == "":
        return None
    low = text.lower()
    if low == "today":
        return datetime(today.year, today.month, today.day), False
    if low == "now":
        return now, True
    return parse_date(text, fmt)


def format_moment(moment: datetime, with_time: bool) -> str:
    if with_time:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.strftime("%Y-%m-%d")


def add_to_moment(moment: datetime, seconds: float) -> datetime | None:
    try:
        return moment + timedelta(seconds=seconds)
    except OverflowError:
        return None


#: round()/roundup()/rounddown() digits are clamped to this range (beyond it the result no
#: longer changes, and 10**digits would overflow).
ROUND_DIGITS = (-22, 15)


def clamp_digits(d: float) -> int:
    return max(ROUND_DIGITS[0], min(ROUND_DIGITS[1], int(d)))


def round_half_away(x: float, digits: int) -> float:
    f = 10.0**digits
    scaled = abs(x) * f + 0.5
    return math.copysign(math.floor(scaled) / f, x) if math.isfinite(scaled) else math.nan


def round_up(x: float, digits: int) -> float:
    f = 10.0**digits
    scaled = abs(x) * f
    return math.copysign(math.ceil(scaled) / f, x) if math.isfinite(scaled) else math.nan


def round_down(x: float, digits: int) -> float:
    f = 10.0**digits
    scaled = abs(x) * f
    return math.copysign(math.floor(scaled) / f, x) if math.isfinite(scaled) else math.nan


_INSTANCE_TEXT = re.compile(r"[0-9]+")


def instance_number(text: str) -> int | None:
    """``redcap_repeat_instance`` as a number (``None`` when blank or not a positive integer)."""
    if _INSTANCE_TEXT.fullmatch(text):
        n = int(text)
        return n if n >= 1 else None
    return None
