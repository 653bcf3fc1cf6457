"""The wire protocol of the REDCap API: request parsing, format rules, envelopes.

Everything here is about bytes on the wire and nothing about projects: PHP-style ``x[i]``
arrays, ``format``/``returnFormat`` normalisation (REDCAP_API.md §4.1), the error envelope per
return format (§4.2) and the encoders for json/csv/xml bodies.
"""

from __future__ import annotations

import binascii
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes
from xml.sax.saxutils import escape

FORMATS = ("json", "csv", "xml", "odm")
_ARRAY_KEY = re.compile(r"^([^\[\]]+)\[([^\[\]]*)\]$")

#: Parameters that may arrive as comma strings as well as arrays (§4.1).
LIST_PARAMS = ("records", "fields", "forms", "events", "arms", "dags", "users", "roles")

DEFAULT_MESSAGES = {
    400: "There were errors with your request. If you are sending data, then it might be due "
    "to the data being misformatted.",
    401: "The API token was missing or incorrect",
    403: "You do not have permissions to use the API",
    404: "The requested URI was not found.",
    500: "The server encountered an error processing your request.",
    501: "The requested method is not implemented.",
}


def now() -> str:
    """The server's local time as REDCap writes it in logs and timestamps."""
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")


MIME = {"json": "application/json", "csv": "text/csv", "xml": "text/xml", "odm": "text/xml"}


class ApiError(Exception):
    """An error REDCap would answer with ``status`` and ``message`` in the error envelope."""

    def __init__(self, message: str, status: int = 400):
        self.message = message
        self.status = status
        super().__init__(message)


@dataclass
class UploadedFile:
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass
class Request:
    """One parsed API call. ``params`` holds scalars; ``arrays`` the ``x[i]`` lists."""

    params: dict[str, str] = field(default_factory=dict)
    arrays: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        return self.params.get(key, default)

    def has(self, key: str) -> bool:
        return key in self.params

    def flag(self, key: str) -> bool:
        """REDCap's boolean rule: true iff '1' or case-insensitive 'true'."""
        return self.params.get(key, "").strip().lower() in ("1", "true")

    def listing(self, key: str) -> list[str]:
        """An array parameter: ``key[i]`` values in index order, or a comma string."""
        if key in self.arrays:
            return [v for v in self.arrays[key] if v != ""]
        raw = self.params.get(key, "")
        return [part.strip() for part in raw.split(",") if part.strip()] if raw else []

    @property
    def format(self) -> str:
        fmt = self.params.get("format", "xml").strip().lower()
        return fmt if fmt in FORMATS else "xml"

    @property
    def return_format(self) -> str:
        fmt = (self.params.get("returnFormat") or self.params.get("format") or "xml")
        fmt = fmt.strip().lower()
        return fmt if fmt in ("json", "csv") else "xml"


def _add(req: Request, key: str, value: str) -> None:
    m = _ARRAY_KEY.match(key)
    if m:
        name, index = m.group(1), m.group(2)
        bucket = req.arrays.setdefault(name, [])
        # Keep index order: PyCap sends 0..n-1, but PHP honours the given index.
        if index.isdigit():
            bucket.append((int(index), value))  # type: ignore[arg-type]
        else:
            bucket.append((len(bucket), value))  # type: ignore[arg-type]
    else:
        req.params[key] = value


def _finish_arrays(req: Request) -> None:
    for name, pairs in list(req.arrays.items()):
        req.arrays[name] = [v for _, v in sorted(pairs, key=lambda p: p[0])]  # type: ignore[misc]


def parse_request(body: bytes, content_type: str, query: str = "") -> Request:
    """Parse a form-encoded or multipart body into a :class:`Request`."""
    req = Request()
    req.query = dict(parse_qsl(query, keep_blank_values=True))
    ctype = (content_type or "").lower()
    if ctype.startswith("multipart/form-data"):
        msg = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name is None:
                continue
            filename = part.get_filename()
            payload = part.get_payload(decode=True) or b""
            if filename is not None:
                req.files[name] = UploadedFile(
                    filename, payload, part.get_content_type() or "application/octet-stream"
                )
            else:
                charset = part.get_content_charset() or "utf-8"
                _add(req, name, payload.decode(charset, errors="replace"))
    else:
        for key, value in parse_form(body):
            _add(req, key, value)
    _finish_arrays(req)
    return req


def _unquote_plus(raw: bytes) -> str:
    """Percent-decoding at C speed for the large ``data`` values of imports."""
    if len(raw) < 4096 or b"%" not in raw:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", errors="replace")
    fast = _qp_unquote(raw)
    if fast is not None:
        return fast.decode("utf-8", errors="replace")
    raw = raw.replace(b"+", b" ")
    import numpy as np

    arr = np.frombuffer(raw, dtype=np.uint8)
    pct = np.flatnonzero(arr == 0x25)
    pct = pct[pct + 2 < len(arr)]
    hi, lo = arr[pct + 1], arr[pct + 2]
    ok = _HEX[hi] >= 0
    ok &= _HEX[lo] >= 0
    pct, hi, lo = pct[ok], hi[ok], lo[ok]
    out = arr.copy()
    out[pct] = (_HEX[hi] * 16 + _HEX[lo]).astype(np.uint8)
    keep = np.ones(len(arr), dtype=bool)
    keep[pct + 1] = False
    keep[pct + 2] = False
    return out[keep].tobytes().decode("utf-8", errors="replace")


# one pass: ``+`` is a space and ``%XX`` becomes the decoder's ``=XX``
_QP_TABLE = bytes.maketrans(b"%+", b"= ")


def _qp_unquote(raw: bytes) -> bytes | None:
    """Plus-and-percent-decoding by the C quoted-printable decoder (``=XX`` escapes), or None.

    ``binascii.a2b_qp`` decodes ``=XX`` exactly like ``%XX``; it differs on ``=`` before a
    line break (soft break), on ``==`` and on a trailing ``=``. So it is used only when the
    body has no ``=``, no line break and no trailing ``%``, and its answer only when it holds
    no ``=`` (which would come from an invalid escape, or from ``%3D``): else None, and the
    general decoder runs.
    """
    if b"=" in raw or b"\n" in raw or b"\r" in raw or raw[-1:] == b"%":
        return None
    out = binascii.a2b_qp(raw.translate(_QP_TABLE))
    if b"=" in out:
        return None
    return out


def _hex_table():  # noqa: ANN202 - numpy array built lazily
    import numpy as np

    table = np.full(256, -1, dtype=np.int16)
    for i, ch in enumerate(b"0123456789abcdef"):
        table[ch] = i
    for i, ch in enumerate(b"ABCDEF"):
        table[ch] = 10 + i
    return table


class _LazyHex:
    table = None

    def __getitem__(self, idx):  # noqa: ANN001, ANN204
        if _LazyHex.table is None:
            _LazyHex.table = _hex_table()
        return _LazyHex.table[idx]


_HEX = _LazyHex()


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` pairs, as PHP reads them (blank values kept)."""
    pairs = []
    for part in body.split(b"&"):
        if not part:
            continue
        key, _, value = part.partition(b"=")
        pairs.append((_unquote_plus(key), _unquote_plus(value)))
    return pairs


# ---------------------------------------------------------------- envelopes and encoders


def error_body(message: str, return_format: str) -> tuple[bytes, str]:
    """REDCap's error envelope for ``return_format`` (json/csv/xml)."""
    if return_format == "json":
        return json.dumps({"error": message}).encode(), MIME["json"]
    if return_format == "csv":
        return f"ERROR: {message}".encode(), MIME["csv"]
    xml = f'<?xml version="1.0" encoding="UTF-8" ?><hash><error>{escape(message)}</error></hash>'
    return xml.encode(), MIME["xml"]


#: what makes PHP's fputcsv (which writes REDCap's CSV) enclose a cell, besides the delimiter
CSV_SPECIAL = ' \t\r\n"\\'
_CSV_PATTERNS: dict[tuple[str, bool], re.Pattern[str]] = {}


def _csv_pattern(delimiter: str, with_delimiter: bool) -> re.Pattern[str]:
    pat = _CSV_PATTERNS.get((delimiter, with_delimiter))
    if pat is None:
        chars = CSV_SPECIAL.replace(delimiter, "") + (delimiter if with_delimiter else "")
        pat = _CSV_PATTERNS[(delimiter, with_delimiter)] = re.compile(
            "[" + re.escape(chars) + "]")
    return pat


def csv_enclose(delimiter: str) -> re.Pattern[str]:
    """A pattern that finds, in one cell, what makes fputcsv enclose it."""
    return _csv_pattern(delimiter, True)


def csv_special(delimiter: str) -> re.Pattern[str]:
    """The same without ``delimiter``: for a line of cells joined by it, whose delimiters are
    counted apart."""
    return _csv_pattern(delimiter, False)


def csv_cell(value: str, delimiter: str = ",") -> str:
    """One CSV cell as REDCap writes it (PHP's fputcsv): enclosed in double quotes when it
    holds the delimiter, a double quote, a backslash, a space, a tab, a carriage return or
    a line feed, inner quotes doubled; else as it is. (fputcsv leaves a quote that follows
    a backslash undoubled; the sandbox doubles every quote, so that any CSV reader gets the
    value back.)"""
    if _csv_pattern(delimiter, True).search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_line(cells: Iterable[Any], delimiter: str = ",") -> str:
    """One CSV line (with its line feed) of ``cells`` (None is blank), fputcsv's quoting."""
    return delimiter.join(csv_cell("" if v is None else str(v), delimiter)
                          for v in cells) + "\n"


def csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None,
             delimiter: str = ",", header: Sequence[str] | None = None) -> str:
    """Rows as REDCap writes CSV: a header line, then the rows, cells quoted as fputcsv does
    (:func:`csv_cell`)."""
    if columns is None:
        columns = list(rows[0].keys()) if rows else []
    out = [csv_line(header if header is not None else columns, delimiter)]
    out += [csv_line([row.get(c) for c in columns], delimiter) for row in rows]
    return "".join(out)


def xml_records(rows: Iterable[dict[str, Any]], root: str = "records") -> str:
    parts = ['<?xml version="1.0" encoding="UTF-8" ?>', f"<{root}>"]
    for row in rows:
        parts.append("<item>")
        for k, v in row.items():
            v = "" if v is None else v
            if isinstance(v, dict):
                inner = "".join(f"<{ik}>{escape(str(iv))}</{ik}>" for ik, iv in v.items())
                parts.append(f"<{k}>{inner}</{k}>")
            else:
                parts.append(f"<{k}><![CDATA[{v}]]></{k}>" if v != "" else f"<{k}></{k}>")
        parts.append("</item>")
    parts.append(f"</{root}>")
    return "".join(parts)


def encode_rows(rows: list[dict[str, Any]], fmt: str, columns: Sequence[str] | None = None,
                root: str = "records") -> tuple[bytes, str]:
    """A list of dicts in the requested export format."""
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False).encode(), MIME["json"]
    if fmt == "csv":
        flat = [{k: (json.dumps(v) if isinstance(v, dict | list) else v) for k, v in r.items()}
                for r in rows]
        return csv_text(flat, columns).encode(), MIME["csv"]
    return xml_records(rows, root).encode(), MIME["xml"]


def encode_scalar(value: int | str, fmt: str, tag: str = "count") -> tuple[bytes, str]:
    """A bare count (import/delete answers): ``15`` in json and csv, ``<count>`` in xml."""
    if fmt == "xml":
        body = f'<?xml version="1.0" encoding="UTF-8" ?><{tag}>{value}</{tag}>'
        return body.encode(), MIME["xml"]
    return str(value).encode(), MIME.get(fmt, MIME["json"])


def parse_data(data: str, fmt: str, *, raw: bool = False) -> list[dict[str, Any]]:
    """Imported ``data`` in json/csv/xml as a list of string dicts (raises ApiError 400).

    ``raw=True`` skips the per-value conversion when it can: numbers are decoded straight to
    their text, so only ``null`` (None) can remain a non-string, and a blank test by truth
    value stays correct. Data holding ``true``/``false`` is converted in full.
    """
    if not data.strip():
        raise ApiError("No data was provided.")
    if fmt == "json":
        try:
            obj = json.loads(data, parse_int=str, parse_float=_float_text)
        except ValueError as exc:
            raise ApiError(
                f"The data being imported is not formatted correctly. PHP error from JSON "
                f"decoder: {exc}. The JSON must be in an array, as in [{{ ... }}]."
            ) from exc
        if isinstance(obj, dict):
            obj = [obj]
        if not isinstance(obj, list) or not all(isinstance(r, dict) for r in obj):
            raise ApiError("The data being imported is not formatted correctly. The JSON must "
                           "be in an array, as in [{ ... }].")
        if raw and "true" not in data and "false" not in data:
            return obj
        return [{str(k): (v if type(v) is str else to_text(v)) for k, v in r.items()}
                for r in obj]
    if fmt == "csv":
        try:
            return _csv_rows(data.lstrip("\ufeff"))
        except csv.Error as exc:
            raise ApiError(f"The data being imported is not formatted correctly. CSV error: "
                           f"{exc}") from exc
    return _parse_xml_items(data)


def _csv_rows(text: str) -> list[dict[str, str]]:
    """CSV rows keyed by the stripped header names: a short row is padded with blanks, cells
    beyond the header are dropped, blank lines are skipped: what ``csv.DictReader`` gives
    (with blank for its ``None``s), without its per-cell Python work (a flat export sent back
    is ~4 M cells per 500 records; reading them took 1.0 s of a 1.3 s request)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return []
    names = [h.strip() for h in header]
    if len(set(names)) < len(set(header)):
        # names that differ only in surrounding spaces: DictReader keeps them apart until the
        # keys are stripped, which decides which value wins; read exactly as it does
        return [{str(k).strip(): ("" if v is None else v) for k, v in r.items() if k is not None}
                for r in csv.DictReader(io.StringIO(text))]
    width = len(names)
    rows = []
    for cells in reader:
        if not cells:
            continue
        if len(cells) < width:
            cells += [""] * (width - len(cells))
        rows.append(dict(zip(names, cells, strict=False)))
    return rows


def _float_text(literal: str) -> str:
    return to_text(float(literal))


def to_text(v: Any) -> str:
    """A JSON value as the string REDCap stores (true → 1, 3.0 → 3, null → blank)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dict | list):
        return json.dumps(v)
    return str(v)


def _parse_xml_items(data: str) -> list[dict[str, str]]:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(data.strip())
    except ET.ParseError as exc:
        raise ApiError(f"The data being imported is not formatted correctly. XML error: {exc}") \
            from exc
    rows = []
    for item in root.iter("item"):
        row: dict[str, str] = {}
        for child in item:
            if len(child):
                row[child.tag] = json.dumps({c.tag: (c.text or "") for c in child})
            else:
                row[child.tag] = child.text or ""
        rows.append(row)
    return rows
