"""Rows of one instrument from the flat raw export, with dates parsed: the only reading of
the raw table the indicators do (raw strings, codes compared through ``study_codes``)."""

from __future__ import annotations

import pandas as pd

INSTRUMENT = "redcap_repeat_instrument"


def form_rows(raw: pd.DataFrame, form: str | None, columns: list[str]) -> pd.DataFrame:
    """``record_id`` plus ``columns`` of the rows of the repeating ``form`` (``None``: the
    one base row per record); a column the export lacks is blank."""
    if INSTRUMENT in raw.columns:
        rows = raw[raw[INSTRUMENT].fillna("") == (form or "")]
    else:
        rows = raw if form is None else raw.iloc[0:0]
    out = pd.DataFrame({"record_id": rows["record_id"].astype(str)})
    for c in columns:
        out[c] = rows[c].fillna("").astype(str) if c in rows.columns else ""
    return out.reset_index(drop=True)


def dates(values: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` strings as timestamps (NaT for blank or malformed)."""
    text = values.astype(str).str.slice(0, 10)
    return pd.to_datetime(text.where(text != ""), format="%Y-%m-%d", errors="coerce")
