"""Descriptive rows for the characteristics tables: n (%) per level, median (IQR) with the
number missing, for a population given as a frame of REDCap codes (analysis.inputs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from sgbm_redcap.reports.contexts import Table
from sgbm_redcap.reports.formatting import median_iqr, median_range, n_pct

#: One characteristics-table entry: (heading, column, kind, labels-or-None).
Row = tuple[str, str, str, Mapping[str, str] | None]


def categorical(values: pd.Series, labels: Mapping[str, str] | None) -> list[list[str]]:
    """One row per level (dictionary order, levels never seen included), then Missing."""
    n = len(values)
    present = values.dropna().astype(str)
    present = present[present != ""]
    order = list(labels or {}) + sorted(set(present) - set(labels or {}))
    rows = [[(labels or {}).get(code, code), n_pct(int((present == code).sum()), n)]
            for code in order]
    rows.append(["Missing", str(n - len(present))])
    return rows


def continuous(values: pd.Series, digits: int = 1) -> list[list[str]]:
    nums = pd.to_numeric(values, errors="coerce")
    return [["Median (IQR)", median_iqr(nums, digits)],
            ["Range", median_range(nums, digits).split(" ", 1)[-1].strip("()")
             if nums.notna().any() else "–"],
            ["Missing", str(int(nums.isna().sum()))]]


def characteristics_table(frame: pd.DataFrame, rows: Sequence[Row], *, id: str, caption: str,
                          population: str, footnote: str = "") -> Table:
    """A characteristics table: each variable a bold heading row, its levels beneath."""
    out: list[list[str]] = []
    groups: set[int] = set()
    for heading, column, kind, labels in rows:
        values = frame[column] if column in frame.columns else pd.Series([None] * len(frame))
        groups.add(len(out))
        out.append([heading, ""])
        out.extend(continuous(values) if kind == "num" else categorical(values, labels))
    return Table(id=id, caption=caption, columns=["Characteristic", f"{population} (N = "
                                                  f"{len(frame)})"],
                 rows=out, group_rows=frozenset(groups), footnote=footnote)
