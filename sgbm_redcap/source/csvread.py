"""Reading REDCap's flat CSV exports as strings, once, at the speed of the parser.

``read_export_csv(text)`` gives what ``pd.read_csv(..., dtype=str, keep_default_na=False,
na_filter=False)`` gave (every value a ``str``, '' for blank, quoted line breaks kept), but
parsed by pyarrow's CSV reader into an Arrow table of strings: that table is written to the
pull cache as it is (no conversion), and turned into the raw DataFrame once. An export that
pyarrow reads differently from pandas (repeated column names, rows of another width) is
read by pandas as before, so the strings never differ.
"""

from __future__ import annotations

import csv
import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv


def _header(text: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text)))
    except (StopIteration, csv.Error):
        return []


def read_export_csv(text: str) -> pa.Table | None:
    """The export as an Arrow table of strings, or None when pyarrow cannot read it the way
    pandas does (the caller then uses ``read_export_pandas``). An empty text gives an empty
    table."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        return pa.table({})
    header = _header(text)
    if not header or len(set(header)) != len(header):
        return None
    try:
        return pa_csv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, ValueError):
        return None


def read_export_pandas(text: str) -> pd.DataFrame:
    """The export as strings, read by pandas (the reader used before pyarrow's)."""
    if not text.strip():
        return pd.DataFrame()
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)


def to_raw_frame(table: pa.Table) -> pd.DataFrame:
    """An all-string Arrow table as a DataFrame of ``str`` objects."""
    return table.to_pandas()
