"""Flat-CSV export lines built by joining strings, byte-identical to the cell-by-cell writer.

A study export has ~300 columns but a repeating-instrument row fills only its own form's
dozen, so writing a full list per row spends most of the export on blank cells. Here each
row is: the record and prefix cells, then per shown form a precomputed run of delimiters
(the blank columns before it) and that form's cells joined by the delimiter; a form's cells
are quoted only when one of them needs it (checked on the joined segment).

Quoting is REDCap's (PHP's fputcsv, :func:`..protocol.csv_cell`): a cell is enclosed when it
holds the delimiter, a double quote, a backslash, a space, a tab, a carriage return or a line
feed, doubling inner quotes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any

from .protocol import csv_cell, csv_enclose, csv_special

RowKey = tuple[str, str, str, int]
# start, end, field names ('\x00' marks a checkbox column), checkbox patches, complete offset,
# file offsets (as RowBuilder.slices)
FormSlice = tuple[int, int, list[str], list[tuple[int, str, str]], int, str, list[int]]


def form_segment(get: Callable[..., Any], names: Sequence[str],
                 boxes: Sequence[tuple[int, str, str]], complete: int,
                 files: Sequence[int], doc_names: dict[str, str]) -> list[str]:
    """One form's cells of a flat export row, from a stored row's ``get``: checkbox options as
    "1"/"0", the form-complete status "0" when blank, a stored file (its document id) as the
    file's name (``doc_names``)."""
    seg = list(map(get, names, repeat("")))
    for off, fld, code in boxes:
        seg[off] = "1" if code in get(fld, ()) else "0"
    if complete >= 0 and not seg[complete]:
        seg[complete] = "0"
    for off in files:
        if seg[off]:
            seg[off] = doc_names.get(seg[off], seg[off])
    return seg


class FlatCsvLines:
    """Export lines for one request: ``line(key, stored, prefix_cells) -> str`` (with ``\\n``).

    ``slices`` are :class:`RowBuilder` form slices (output positions, the record id at 0 and
    the prefix cells at 1..len(prefix)); ``forms_for`` gives the forms a row shows.
    """

    def __init__(self, slices: dict[str, FormSlice], width: int, n_prefix: int,
                 forms_for: Callable[[RowKey], frozenset[str]], delimiter: str = ",",
                 doc_names: dict[str, str] | None = None):
        self.slices = slices
        self.doc_names = doc_names or {}
        self.special = csv_special(delimiter)
        self.enclose = csv_enclose(delimiter)
        self.width = width
        self.first = 1 + n_prefix
        self.forms_for = forms_for
        self.d = delimiter
        self._plans: dict[frozenset[str], tuple[list[tuple[str, FormSlice]], str]] = {}

    def _plan(self, forms: frozenset[str]) -> tuple[list[tuple[str, FormSlice]], str]:
        """Per shown form (in column order) the delimiters that precede its cells; the tail."""
        plan = self._plans.get(forms)
        if plan is None:
            d = self.d
            specs = sorted((self.slices[f] for f in forms if f in self.slices),
                           key=lambda s: s[0])
            parts, prev = [], self.first
            for spec in specs:
                parts.append((d * (spec[0] - prev + 1), spec))
                prev = spec[1]
            plan = self._plans[forms] = (parts, d * (self.width - prev) + "\n")
        return plan

    def line(self, key: RowKey, stored: dict[str, Any], prefix_cells: Sequence[str]) -> str:
        d = self.d
        head = [csv_cell(key[0], d)]
        for cell in prefix_cells:
            head.append(csv_cell(cell, d))
        out = [d.join(head)]
        get = stored.get
        parts, tail = self._plan(self.forms_for(key))
        special, enclose, doc_names = self.special.search, self.enclose.search, self.doc_names
        for gap, (_start, _end, names, boxes, complete, _cname, files) in parts:
            seg = form_segment(get, names, boxes, complete, files, doc_names)
            text = d.join(seg)
            if special(text) or text.count(d) != len(seg) - 1:
                text = d.join([csv_cell(v, d) if enclose(v) else v for v in seg])
            out.append(gap)
            out.append(text)
        out.append(tail)
        return "".join(out)
