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
    kind[design & out["details"].str.contains(_USER_WORDS, case=False, regex=True)] = "user"
    kind[out["action"].str.contains(r"^(?:Add|Edit|Delete) user|User rights|role",
                                    case=False, regex=True)] = "user"
    out["kind"] = kind
    # newest first from REDCap; a stable sort keeps the order of rows in the same minute
    out = out.iloc[::-1].reset_index(drop=True)
    out = out.sort_values("ts", kind="stable").reset_index(drop=True)
    return out[LOG_COLUMNS]


def log_changes(log: pd.DataFrame) -> pd.DataFrame:
    """One row per value a create/update wrote (CHANGE_COLUMNS), in log order."""
    writes = log[log["kind"].isin(("create", "update"))]
    if not len(writes):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CHANGE_COLUMNS})
    parts = writes["details"].str.extractall(_PATTERN)
    if not len(parts):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CHANGE_COLUMNS})
    row = parts.index.get_level_values(0)
    parts = parts.reset_index(drop=True)
    parts["instance"] = parts["instance"].groupby(row.to_numpy()).ffill()
    values = parts["field"].notna().to_numpy()
    src = writes.loc[row[values]]
    out = pd.DataFrame({
        "ts": src["ts"].to_numpy(), "username": src["username"].to_numpy(),
        "kind": src["kind"].to_numpy(), "record": src["record"].to_numpy(),
        "instance": parts.loc[values, "instance"].fillna("").to_numpy(),
        "field": parts.loc[values, "field"].to_numpy(),
        "value": parts.loc[values, "value"].to_numpy()})
    return out
