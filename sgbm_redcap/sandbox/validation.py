"""Per-value validation on record import, with REDCap's own messages (REDCAP_API.md §4.4)."""

from __future__ import annotations

import datetime as dt
import functools
import re

from .meta import FieldInfo

_DATE_MSG = ("Invalid date format. (NOTE: Dates must be imported here only in Y-M-D format, "
             "regardless of the specific date format designated for this field.)")
_DATETIME_MSG = ("Invalid datetime format. (NOTE: Datetimes must be imported here only in Y-M-D "
                 "H:M[:S] format, regardless of the specific date format designated for this field.)")
_GENERIC = ("The value you provided could not be validated because it does not follow the "
            "expected format. Please try again.")

_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "integer": (re.compile(r"^[-+]?\d+$"), "The value of {f} must be an integer."),
    "number": (re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$"),
               "The value of {f} must be numeric."),
    "phone": (re.compile(r"^\(?[2-9]\d{2}\)?[-. ]?\d{3}[-. ]?\d{4}(\s*(x|ext\.?)\s*\d+)?$"),
              "{f} must be a 10-digit phone number."),
    "email": (re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), "Email address is not properly formatted."),
    "zipcode": (re.compile(r"^\d{5}(-?\d{4})?$"), "{f} must be a 5 or 9 digit U.S. ZIP Code"),
    "time": (re.compile(r"^([01]\d|2[0-3]):[0-5]\d$"),
             "Time is not properly formatted as HH:MM (military format)."),
    "time_hh_mm_ss": (re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$"), _GENERIC),
    "time_mm_ss": (re.compile(r"^[0-5]\d:[0-5]\d$"), _GENERIC),
    "alpha_only": (re.compile(r"^[a-zA-Z]+$"), _GENERIC),
    "number_1dp": (re.compile(r"^-?\d+\.\d$"), _GENERIC),
    "number_2dp": (re.compile(r"^-?\d+\.\d{2}$"), _GENERIC),
    "number_3dp": (re.compile(r"^-?\d+\.\d{3}$"), _GENERIC),
    "number_4dp": (re.compile(r"^-?\d+\.\d{4}$"), _GENERIC),
    "number_comma_decimal": (re.compile(r"^-?\d+(,\d+)?$"), _GENERIC),
    "mrn_10d": (re.compile(r"^\d{10}$"), _GENERIC),
    "ssn": (re.compile(r"^\d{3}-\d\d-\d{4}$"), _GENERIC),
}
_NUMERIC = {"integer", "number", "number_1dp", "number_2dp", "number_3dp", "number_4dp"}


_YMD = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@functools.lru_cache(maxsize=65536)
def _is_ymd(value: str) -> bool:
    """A real calendar date in Y-M-D (cached: study data repeats dates a lot)."""
    m = _YMD.match(value)
    if m is None:
        return False
    try:
        dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return False
    return True


def _parse_date(value: str, kind: str) -> dt.datetime | dt.date | None:
    if kind == "date":  # the common case, without strptime
        m = _YMD.match(value)
        if m is None:
            return None
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
    fmts = {"date": ("%Y-%m-%d",), "datetime": ("%Y-%m-%d %H:%M",),
            "datetime_seconds": ("%Y-%m-%d %H:%M:%S",)}[kind]
    for f in fmts:
        try:
            return dt.datetime.strptime(value, f)
        except ValueError:
            continue
    return None


def date_kind(validation: str) -> str | None:
    if validation.startswith("datetime_seconds"):
        return "datetime_seconds"
    if validation.startswith("datetime"):
        return "datetime"
    if validation.startswith("date"):
        return "date"
    return None


def convert_date(value: str, validation: str, date_format: str) -> str:
    """``dateFormat`` MDY/DMY: values containing ``/`` are re-read; leading zeros fixed."""
    kind = date_kind(validation)
    if kind is None or not value:
        return value
    value = value.replace("T", " ").strip()
    date_part, _, time_part = value.partition(" ")
    if "/" in date_part and date_format in ("MDY", "DMY"):
        bits = date_part.split("/")
        if len(bits) == 3:
            a, b, y = bits
            m, d = (a, b) if date_format == "MDY" else (b, a)
            if len(y) == 2 and y.isdigit():
                pivot = (dt.date.today().year + 10) % 100
                y = ("20" if int(y) <= pivot else "19") + y
            date_part = f"{y}-{m}-{d}"
    bits = date_part.split("-")
    if len(bits) == 3 and all(b.isdigit() for b in bits):
        date_part = f"{bits[0]:0>4}-{bits[1]:0>2}-{bits[2]:0>2}"
    return f"{date_part} {time_part}".strip()


def validate_value(f: FieldInfo, value: str) -> str | None:
    """The REDCap message for an invalid non-blank ``value`` of ``f``, else None."""
    if f.ftype in ("radio", "dropdown", "yesno", "truefalse"):
        if value not in f.choices:
            return f"The value is not a valid category for {f.name}"
        return None
    if f.ftype == "slider":
        if not re.match(r"^-?\d+$", value):
            return f"The value of {f.name} must be an integer."
        lo = int(f.vmin) if f.vmin.lstrip("-").isdigit() else 0
        hi = int(f.vmax) if f.vmax.lstrip("-").isdigit() else 100
        return _range_message(f, float(value), float(lo), float(hi), str(lo), str(hi))
    if f.ftype != "text" or not f.validation:
        return None
    kind = date_kind(f.validation)
    if kind is not None:
        parsed = _parse_date(value, kind)
        if parsed is None:
            return _DATE_MSG if kind == "date" else _DATETIME_MSG
        return _hard_range(f, value)
    pattern = _PATTERNS.get(f.validation)
    if pattern is None:
        return None
    regex, msg = pattern
    if not regex.match(value):
        return msg.format(f=f.name)
    return _hard_range(f, value)


def _hard_range(f: FieldInfo, value: str) -> str | None:
    """Min/max are warnings only (never returned) unless the field has @FORCE-MINMAX."""
    if "@FORCE-MINMAX" not in (f.annotation or "").upper():
        return None
    if date_kind(f.validation):
        lo, hi = f.vmin or None, f.vmax or None
        if lo and value < lo:
            return f"{f.name} should not be less than the field minimum ({lo})"
        if hi and value > hi:
            return f"{f.name} should not be greater than the field maximum ({hi})"
        return None
    if f.validation in _NUMERIC:
        try:
            v = float(value)
            lo = float(f.vmin) if f.vmin else None
            hi = float(f.vmax) if f.vmax else None
        except ValueError:
            return None
        return _range_message(f, v, lo, hi, f.vmin, f.vmax)
    return None


def _range_message(f: FieldInfo, v: float, lo: float | None, hi: float | None,
                   lo_text: str, hi_text: str) -> str | None:
    if lo is not None and v < lo:
        return f"{f.name} should not be less than the field minimum ({lo_text})"
    if hi is not None and v > hi:
        return f"{f.name} should not be greater than the field maximum ({hi_text})"
    return None


def soft_range_warning(f: FieldInfo, value: str) -> bool:
    """True when a numeric/date value lies outside a soft min/max (REDCap only warns)."""
    if not (f.vmin or f.vmax) or f.ftype != "text":
        return False
    try:
        if f.validation in _NUMERIC:
            v = float(value)
            return bool((f.vmin and v < float(f.vmin)) or (f.vmax and v > float(f.vmax)))
        if date_kind(f.validation):
            return bool((f.vmin and value < f.vmin) or (f.vmax and value > f.vmax))
    except ValueError:
        return False
    return False


_CANONICAL = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?$")


def canonical_date(value: str) -> bool:
    """Already in stored form (Y-M-D with zero padding): no ``dateFormat`` conversion needed."""
    return _CANONICAL.match(value) is not None


class Validator:
    """A field's import check, prepared once per design: ``check(value) -> message | None``."""

    def __init__(self, f: FieldInfo, codes: frozenset[str] = frozenset()):
        self.field = f
        #: missing data codes REDCap stores in this field whatever its validation
        self.codes = codes
        self.validation = f.validation
        self.dates = f.ftype == "text" and date_kind(f.validation) is not None
        self.choices = f.choices if f.ftype in ("radio", "dropdown", "yesno", "truefalse") \
            else None
        self.message = f"The value is not a valid category for {f.name}"
        self.pattern = None
        hard = "@FORCE-MINMAX" in (f.annotation or "").upper()
        if f.ftype == "text" and f.validation in _PATTERNS and not hard:
            self.pattern = _PATTERNS[f.validation]
        self.plain_date = self.dates and date_kind(f.validation) == "date" and not hard

    def __call__(self, value: str) -> str | None:
        if value in self.codes:
            return None
        if self.choices is not None:
            return None if value in self.choices else self.message
        if self.plain_date:
            return None if _is_ymd(value) else _DATE_MSG
        if self.pattern is not None:
            regex, msg = self.pattern
            return None if regex.match(value) else msg.format(f=self.field.name)
        return validate_value(self.field, value)


def make_validator(f: FieldInfo, codes: frozenset[str] = frozenset()) -> Validator | None:
    """None for fields whose values REDCap accepts as they come (plain text, notes).
    ``codes``: the project's missing data codes the field takes (accepted as they are)."""
    if f.ftype in ("radio", "dropdown", "yesno", "truefalse", "slider"):
        return Validator(f, codes)
    if f.ftype == "text" and f.validation:
        return Validator(f, codes)
    return None
