"""What the evaluators need to know about a flat REDCap table (CONTRACTS §2)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sgbm_redcap.dictionary.model import checkbox_column
from sgbm_redcap.errors import LogicError

from .nodes import FieldRef

EVENT = "redcap_event_name"
INSTRUMENT = "redcap_repeat_instrument"
INSTANCE = "redcap_repeat_instance"
DAG = "redcap_data_access_group"


class TableSpec:
    """Column roles of a flat export: the record id is ``record_id`` when present, else the
    first column (REDCap always exports the record-id field first)."""

    def __init__(self, table: pd.DataFrame, record_id: str | None = None):
        if record_id is None:
            if "record_id" in table.columns:
                record_id = "record_id"
            elif len(table.columns):
                record_id = str(table.columns[0])
            else:
                raise LogicError("cannot evaluate logic over a table without columns")
        if record_id not in table.columns:
            raise LogicError(f"record id column {record_id!r} is not in the table")
        self.record_id = record_id
        self.columns = set(map(str, table.columns))
        self.dag = DAG if DAG in self.columns else None
        self._options: dict[str, list[tuple[str, str]]] = {}

    def checkbox_options(self, field: str) -> list[tuple[str, str]]:
        """``(code, column)`` of every ``field___code`` column, in table order."""
        if field not in self._options:
            prefix = f"{field}___"
            self._options[field] = [
                (c[len(prefix):], c) for c in sorted(self.columns) if c.startswith(prefix)
            ]
        return self._options[field]

    def column_for(self, ref: FieldRef) -> str | None:
        """The column holding ``ref``; ``None`` means "all options of a checkbox combined"."""
        if ref.code is not None:
            column = checkbox_column(ref.field, ref.code)
            if column not in self.columns:
                raise LogicError(
                    f"[{ref.field}({ref.code})]: the table has no checkbox column {column}"
                )
            return column
        combined = "checked" in ref.modifiers or "unchecked" in ref.modifiers
        if ref.field in self.columns and not combined:
            return ref.field
        if self.checkbox_options(ref.field):
            return None
        raise LogicError(f"[{ref.field}] is not a column of the table")


def choice_labels(dictionary: Any, field: str) -> dict[str, str]:
    """code -> label of a multiple-choice field (also under the checkbox column suffix);
    empty without a dictionary. Duck-typed on CONTRACTS §1 (``get(name).choices``)."""
    if dictionary is None or not hasattr(dictionary, "get"):
        return {}
    f = dictionary.get(field)
    choices = getattr(f, "choices", None) or {}
    out: dict[str, str] = {}
    for code, label in choices.items():
        out[str(code)] = str(label)
        out[checkbox_column("x", str(code))[3:]] = str(label)
    return out
