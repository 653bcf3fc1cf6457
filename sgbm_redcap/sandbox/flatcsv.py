"""Flat-CSV export lines built by joining strings, byte-identical to ``csv.writer``.

A study export has ~300 columns but a repeating-instrument row fills only its own form's
dozen, so handing ``csv.writer`` a full list per row spends most of the export on blank
cells. Here each row is: the record and prefix cells, then per shown form a precomputed run
of delimiters (the blank columns before it) and that form's cells joined by the delimiter;
a form's cells are quoted only when one of them needs it (checked on the joined segment).

Quoting follows ``csv.writer(delimiter=d, lineterminator="\\n")`` with QUOTE_MINIMAL on
Python 3.11: a cell is quoted when it holds the delimiter, a double quote or a line feed
(a lone carriage return is written as is), doubling inner quotes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any

RowKey = tuple[str, str, str, int]
# start, end, field names ('\x00' marks a checkbox column), checkbox patches, complete offset,
# file offsets (as RowBuilder.slices)
FormSlice = tuple[int, int, list[str], list[tuple[int, str, str]], int, str, list[int]]


def escape_cell(value: str, delimiter: str = ",") -> str:
    """One cell as ``csv.writer`` writes it (QUOTE_MINIMAL, ``lineterminator='\\n'``)."""
    if delimiter in value or '"' in value or "\n" in value:
        return '"' + value.replace('"', '""') + '"'
    return value



def form_segment(get: Callable[..., Any], names: Sequence[str],
                 boxes: Sequence[tuple[int, str, str]], complete: int,
                 files: Sequence[int]) -> list[str]:
    """One form's cells of a flat export row, from a stored row's ``get``: checkbox options as
    "1"/"0", the form-complete status "0" when blank, a stored file as "[document]"."""
    seg = list(map(get, names, repeat("")))
    for off, fld, code in boxes:
        seg[off] = "1" if code in get(fld, ()) else "0"
    if complete >= 0 and not seg[complete]:
        seg[complete] = "0"
    for off in files:
        if seg[off]:
            seg[off] = "[document]"
    return seg


class FlatCsvLines:
    """Export lines for one request: ``line(key, stored, prefix_cells) -> str`` (with ``\\n``).

    ``slices`` are :class:`RowBuilder` form slices (output positions, the record id at 0 and
    the prefix cells at 1..len(prefix)); ``forms_for`` gives the forms a row shows.
    """

    def __init__(self, slices: dict[str, FormSlice], width: int, n_prefix: int,
                 forms_for: Callable[[RowKey], frozenset[str]], delimiter: str = ","):
        self.slices = slices
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
        head = [escape_cell(key[0], d)]
        for cell in prefix_cells:
            head.append(escape_cell(cell, d))
        out = [d.join(head)]
        get = stored.get
        parts, tail = self._plan(self.forms_for(key))
        for gap, (_start, _end, names, boxes, complete, _cname, files) in parts:
            seg = form_segment(get, names, boxes, complete, files)
            text = d.join(seg)
            if '"' in text or "\n" in text or text.count(d) != len(seg) - 1:
                text = d.join([escape_cell(v, d) for v in seg])
            out.append(gap)
            out.append(text)
        out.append(tail)
        return "".join(out)
