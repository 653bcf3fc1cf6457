"""REDCap's function whitelist with arities, and the smart variables (REDCAP_API.md §5.4)."""

from __future__ import annotations

#: name -> (minimum, maximum) number of arguments; ``None`` = no maximum.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "if": (3, 3),
    # datediff(date1, date2, unit[, 'ymd'|'mdy'|'dmy'|returnSigned][, returnSigned])
    "datediff": (3, 5),
    "calcdate": (3, 3),
    "calctext": (1, 1),
    "round": (1, 2),
    "roundup": (1, 2),
    "rounddown": (1, 2),
    "sqrt": (1, 1),
    "abs": (1, 1),
    "min": (1, None),
    "max": (1, None),
    "mean": (1, None),
    "median": (1, None),
    "sum": (1, None),
    "stdev": (1, None),
    "mod": (2, 2),
    "exponential": (1, 1),
    "log": (1, 2),
    "isnumber": (1, 1),
    "isinteger": (1, 1),
    "contains": (2, 2),
    "not_contain": (2, 2),
    "starts_with": (2, 2),
    "ends_with": (2, 2),
    "left": (2, 2),
    "right": (2, 2),
    "length": (1, 1),
    "mid": (3, 3),
    "find": (2, 2),
    "concat": (1, None),
    "concat_ws": (2, None),
    "upper": (1, 1),
    "lower": (1, 1),
    "trim": (1, 1),
    "replace_text": (3, 3),
    "year": (1, 1),
    "month": (1, 1),
    "day": (1, 1),
    "isblankormissingcode": (1, 1),
    "isblanknotmissingcode": (1, 1),
    "hasmissingcode": (1, 1),
    "ismissingcode": (1, 1),
    # REDCap's internal spellings (what the user syntax is translated into).
    "roundRC": (1, 2),
    "minRC": (1, None),
    "maxRC": (1, None),
    "powRC": (2, 2),
    "yearRC": (1, 1),
    "monthRC": (1, 1),
    "dayRC": (1, 1),
    "logRC": (1, 2),
    "is_nan": (1, 1),
    "chkNull": (1, 1),
}

#: lower-cased spelling -> canonical spelling (function names are case-insensitive).
CANONICAL_NAMES: dict[str, str] = {name.lower(): name for name in FUNCTIONS}

#: Internal spellings evaluated exactly like their public twin.
ALIASES: dict[str, str] = {
    "roundRC": "round",
    "minRC": "min",
    "maxRC": "max",
    "yearRC": "year",
    "monthRC": "month",
    "dayRC": "day",
    "logRC": "log",
}

DATEDIFF_UNITS = ("y", "M", "d", "h", "m", "s")
DATE_FORMATS = ("ymd", "mdy", "dmy")

#: Smart variables usable in logic. Those ending in ``:`` take a parameter.
SMART_VARIABLES: frozenset[str] = frozenset(
    {
        "user-name", "user-fullname", "user-email", "user-dag-name", "user-dag-id",
        "user-dag-label", "user-role-id", "user-role-name", "user-role-label",
        "record-name", "record-dag-name", "record-dag-id", "record-dag-label",
        "is-form", "is-survey", "instrument-name", "instrument-label",
        "event-id", "event-name", "event-label", "event-number",
        "first-event-name", "first-event-label", "last-event-name", "last-event-label",
        "previous-event-name", "previous-event-label", "next-event-name", "next-event-label",
        "arm-number", "arm-label",
        "current-instance", "first-instance", "last-instance", "previous-instance",
        "next-instance", "new-instance",
        "survey-link", "survey-url", "survey-queue-link", "survey-queue-url",
        "survey-access-code", "survey-return-code", "survey-date-completed",
        "survey-time-completed", "survey-date-started", "survey-time-started",
        "survey-duration", "survey-duration-completed", "survey-title",
        "survey-last-instance", "form-link", "form-url",
        "aggregate-min", "aggregate-max", "aggregate-mean", "aggregate-median",
        "aggregate-sum", "aggregate-count", "aggregate-stdev", "aggregate-unique",
        "stats-table", "bar-chart", "pie-chart", "donut-chart", "line-chart", "scatter-plot",
        "rand-number", "rand-time", "rand-utc-time", "mycap-project-code",
    }
)

#: Smart variables that may stand in the instance slot ``[field][...]``.
INSTANCE_SMART_VARIABLES: frozenset[str] = frozenset(
    {
        "current-instance", "first-instance", "last-instance", "previous-instance",
        "next-instance", "new-instance",
    }
)

#: Smart variables that may stand in the event slot ``[...][field]``.
EVENT_SMART_VARIABLES: frozenset[str] = frozenset(
    {"event-name", "first-event-name", "last-event-name", "previous-event-name",
     "next-event-name"}
)

MODIFIERS: frozenset[str] = frozenset({"value", "label", "checked", "unchecked"})


def is_known_smart_variable(name: str) -> bool:
    """``survey-last-instance-*`` style families count by prefix."""
    return name in SMART_VARIABLES or name.startswith("survey-last-instance")
