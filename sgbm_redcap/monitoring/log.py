"""REDCap's project log (``export_logging``) as tidy frames.

REDCap's rows are ``{timestamp "YYYY-MM-DD HH:MM", username, action, details, record}``,
newest first (docs/REDCAP_API.md §4.6). :func:`log_frame` types them and names what each
row is (``kind``); :func:`log_changes` splits the details of record writes into one row per
value written (``field = 'value'``, with ``[instance = N]`` applying to the values after it,
as REDCap writes them for repeating instruments). The log is the only source of *when* a
value was entered or changed; without logging rights the caller has no log (``None``) and
the indicators that need it are named as not computed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

LOG_COLUMNS = ["ts", "username", "action", "kind", "record", "details"]
CHANGE_COLUMNS = ["ts", "username", "kind", "record", "instance", "field", "value"]
#: what a row is, by the start of its action (REDCap's HTML-stripped action text)
_KINDS = (("Create record", "create"), ("Update record", "update"), ("Delete record", "delete"),
          ("Manage/Design", "design"), ("Data export", "export"),
          ("Lock/Unlock", "lock"), ("Data Quality", "update"))
_USER_WORDS = r"\buser|\brole|\bDAG\b|Data Access Group"
_VALUE = r"(?:\[instance = (?P<instance>\d+)\]|(?P<field>[A-Za-z_][A-Za-z0-9_]*) = '(?P<value>.*?)')"
_NEXT = r"(?=, \[instance = |, [A-Za-z_][A-Za-z0-9_]* = '|$)"
_PATTERN = rf"(?:^|, ){_VALUE}{_NEXT}"
_MATCH = re.compile(_PATTERN).finditer


def log_frame(rows: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """The log as LOG_COLUMNS, oldest first; ``kind`` is create / update / delete / design /
    user (rights, roles, DAG assignments) / export / other."""
    frame = pd.DataFrame(rows)
    if not len(frame):
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "ts" else object)
                             for c in LOG_COLUMNS})
    for c in ("timestamp", "username", "action", "details", "record"):
        if c not in frame.columns:
            frame[c] = ""
    out = pd.DataFrame({
        "ts": pd.to_datetime(frame["timestamp"].astype(str).str.slice(0, 16),
                             format="%Y-%m-%d %H:%M", errors="coerce"),
        "username": frame["username"].fillna("").astype(str),
        "action": frame["action"].fillna("").astype(str),
        "record": frame["record"].fillna("").astype(str),
        "details": frame["details"].fillna("").astype(str)})
    kind = pd.Series("other", index=out.index, dtype=object)
    for start, name in reversed(_KINDS):
        kind[out["action"].str.startswith(start)] = name
    design = kind == "design"
    users = out.loc[design, "details"].str.contains(_USER_WORDS, case=False, regex=True)
    kind[users[users].index] = "user"
    kind[out["action"].str.contains(r"^(?:Add|Edit|Delete) user|User rights|role",
                                    case=False, regex=True)] = "user"
    out["kind"] = kind
    # newest first from REDCap; a stable sort keeps the order of rows in the same minute
    out = out.iloc[::-1].reset_index(drop=True)
    out = out.sort_values("ts", kind="stable").reset_index(drop=True)
    return out[LOG_COLUMNS]


def log_changes(log: pd.DataFrame, fields: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per value a create/update wrote (CHANGE_COLUMNS), in log order; only the
    values of ``fields`` when given (the details are parsed the same way, then filtered)."""
    writes = log[log["kind"].isin(("create", "update"))]
    wanted = None if fields is None else frozenset(fields)
    markers = None if wanted is None else tuple(f"{f} = '" for f in wanted)
    rows: list[int] = []
    instances: list[str] = []
    names: list[str] = []
    values: list[str] = []
    for i, details in enumerate(writes["details"].to_numpy()):
        if markers is not None and not any(m in details for m in markers):
            continue
        instance = ""
        for m in _MATCH(details):
            if m.group("instance") is not None:
                instance = m.group("instance")
            elif wanted is None or m.group("field") in wanted:
                rows.append(i)
                instances.append(instance)
                names.append(m.group("field"))
                values.append(m.group("value"))
    src = writes.iloc[rows]
    return pd.DataFrame({
        "ts": src["ts"].to_numpy(), "username": src["username"].to_numpy(),
        "kind": src["kind"].to_numpy(), "record": src["record"].to_numpy(),
        "instance": pd.Series(instances, dtype=object).to_numpy(),
        "field": pd.Series(names, dtype=object).to_numpy(),
        "value": pd.Series(values, dtype=object).to_numpy()}, columns=CHANGE_COLUMNS)
