"""Findings are data, never exceptions: one row per (rule, record, form, instance, field)."""

from __future__ import annotations

from dataclasses import astuple, dataclass

import numpy as np
import pandas as pd

FINDING_COLUMNS: list[str] = [
    "rule_id", "severity", "record_id", "form", "instance", "field", "message", "value", "dag",
]


@dataclass(frozen=True)
class Finding:
    """One problem in one place. ``instance`` is 0 for a non-repeating form."""

    rule_id: str
    severity: str
    record_id: str
    form: str
    instance: int
    field: str
    message: str
    value: str
    dag: str

    @property
    def query_id(self) -> str:
        return query_id(self.rule_id, self.record_id, self.form, self.instance, self.field)


def query_id(rule_id: str, record_id: str, form: str, instance: int | str | None, field: str
             ) -> str:
    """The stable id of the data query raised for a finding (docs/CONTRACTS.md §6)."""
    inst = instance if instance not in (None, "", 0, "0") else 0
    return f"{rule_id}:{record_id}:{form}:{int(inst)}:{field}"


def query_ids(findings: pd.DataFrame) -> pd.Series:
    """Vectorised :func:`query_id` over a findings frame."""
    inst = pd.to_numeric(findings["instance"], errors="coerce").fillna(0).astype(int).astype(str)
    return (findings["rule_id"].astype(str) + ":" + findings["record_id"].astype(str) + ":"
            + findings["form"].astype(str) + ":" + inst + ":" + findings["field"].astype(str))


def empty_findings() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "instance" else object)
                         for c in FINDING_COLUMNS})


def to_findings(frame: pd.DataFrame) -> list[Finding]:
    return [Finding(*row) for row in frame[FINDING_COLUMNS].itertuples(index=False, name=None)]


def from_findings(findings: list[Finding]) -> pd.DataFrame:
    if not findings:
        return empty_findings()
    out = pd.DataFrame([astuple(f) for f in findings], columns=FINDING_COLUMNS)
    out["instance"] = out["instance"].astype("int64")
    return out


def hits(rows: pd.DataFrame, mask: pd.Series, *, field: str | None = None,
         value: pd.Series | str | None = None, **params: pd.Series | str) -> pd.DataFrame:
    """The rows of ``rows`` (a :meth:`CheckContext.form_rows` frame) selected by ``mask``,
    as a predicate result: ``record_id``, ``instance``, ``value`` and the message params."""
    mask = pd.Series(np.equal(mask.to_numpy(dtype=object), True), index=mask.index)
    if not mask.to_numpy().any():
        return pd.DataFrame({"record_id": pd.Series(dtype=object),
                             "instance": pd.Series(dtype="int64")})
    out = pd.DataFrame({"record_id": rows.loc[mask, "record_id"].astype(str),
                        "instance": rows.loc[mask, "instance"].astype(int)})
    if field is not None:
        out["field"] = field
    if value is None and field is not None and field in rows.columns:
        value = rows[field]
    if isinstance(value, pd.Series):
        out["value"] = value[mask].fillna("").astype(str)
    else:
        out["value"] = value or ""
    for name, p in params.items():
        out[name] = p[mask] if isinstance(p, pd.Series) else p
    return out.reset_index(drop=True)
