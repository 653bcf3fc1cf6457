"""Identifier suppression: a field marked Identifier = y in the dictionary never reaches a
report, listing or figure.

Every listing the reports build passes through :func:`drop_identifiers` (or
:func:`listing_table`, which calls it), so suppression does not depend on each builder
remembering which columns are sensitive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from sgbm_redcap.reports.contexts import Table
from sgbm_redcap.reports.formatting import cell

#: Names that are identifying whatever the dictionary says (REDCap exports them with the data).
ALWAYS_IDENTIFYING = frozenset({"site_patient_id", "birth_date"})


def identifier_fields(dictionary: Any | None) -> frozenset[str]:
    """Names of the dictionary's identifier fields (plus :data:`ALWAYS_IDENTIFYING`)."""
    names = set(ALWAYS_IDENTIFYING)
    if dictionary is not None:
        names.update(f.name for f in dictionary.fields if getattr(f, "identifier", False))
    return frozenset(names)


def is_identifier_column(column: str, identifiers: Iterable[str]) -> bool:
    """``column`` is an identifier field or one of its checkbox columns (``name___code``)."""
    base = str(column).split("___", 1)[0]
    return base in set(identifiers)


def drop_identifiers(frame: pd.DataFrame, dictionary: Any | None) -> pd.DataFrame:
    """``frame`` without any identifier column."""
    ids = identifier_fields(dictionary)
    keep = [c for c in frame.columns if not is_identifier_column(c, ids)]
    return frame.loc[:, keep]


def listing_table(frame: pd.DataFrame, *, columns: Sequence[tuple[str, str]], id: str,
                  caption: str, dictionary: Any | None, footnote: str = "",
                  empty_message: str = "None.", wide: bool = True) -> Table:
    """A listing (one row per event) as a :class:`Table`. ``columns`` maps frame column →
    heading; identifier columns are dropped even when asked for."""
    safe = drop_identifiers(frame, dictionary)
    shown = [(c, h) for c, h in columns if c in safe.columns]
    rows = [[cell(v) for v in rec] for rec in safe[[c for c, _ in shown]].itertuples(
        index=False, name=None)]
    return Table(id=id, caption=caption, columns=[h for _, h in shown], rows=rows,
                 footnote=footnote, text_columns=len(shown), empty_message=empty_message,
                 wide=wide)
