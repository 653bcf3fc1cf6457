"""Read a REDCap data dictionary CSV as it is found in the wild.

Handles UTF-8 with or without BOM, UTF-16 with BOM, cp1252 (Excel on Windows), CR-only,
LF, CRLF and mixed line endings, comma / semicolon / tab delimiters, the UI header
(16, 17 or 18 columns, plus any extra columns), the API's snake_case header, and cells
larger than Python's default csv field limit. Anything else raises ``DictionaryError``
naming the file, the CSV record (header = row 1) and the column.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from os import PathLike
from pathlib import Path
from typing import Any

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from sgbm_redcap.dictionary.model import (
    COLUMNS,
    FIELD_TYPE_ALIASES,
    UI_HEADER,
    Dictionary,
    Field,
)
from sgbm_redcap.errors import DictionaryError

log = logging.getLogger(__name__)

#: Cells longer than this are refused (a dictionary cell of 10 MB is a broken file).
MAX_CELL_CHARS = 10_000_000

_CANONICAL = {re.sub(r"[^a-z0-9]", "", h.lower()): key for h, key in zip(UI_HEADER, COLUMNS, strict=True)}
_CANONICAL.update({re.sub(r"[^a-z0-9]", "", key): key for key in COLUMNS})
# Older REDCap versions and hand-made files use a few other spellings.
_CANONICAL.update(
    {
        "variablefieldname": "field_name",
        "variable": "field_name",
        "fieldname": "field_name",
        "formname": "form_name",
        "choicescalculationsorsliderlabels": "select_choices_or_calculations",
        "choicesorcalculations": "select_choices_or_calculations",
        "textvalidationtypeorshowslidernumber": "text_validation_type_or_show_slider_number",
        "textvalidationtype": "text_validation_type_or_show_slider_number",
        "identifier": "identifier",
        "branchinglogicshowfieldonlyif": "branching_logic",
        "branchinglogic": "branching_logic",
        "requiredfield": "required_field",
        "questionnumbersurveysonly": "question_number",
        "matrixranking": "matrix_ranking",
    }
)
_REQUIRED_COLUMNS = ("field_name", "form_name", "field_type", "field_label")


def _header_key(cell: str) -> str | None:
    return _CANONICAL.get(re.sub(r"[^a-z0-9]", "", cell.lower()))


def _raise_field_limit() -> None:
    # csv's default limit (131072) is smaller than real dictionaries' longest cells.
    if csv.field_size_limit() < MAX_CELL_CHARS:
        csv.field_size_limit(MAX_CELL_CHARS)


def _decode(data: bytes, source: str) -> tuple[str, str]:
    """Bytes → (text, encoding name). UTF-8 first, then cp1252, which covers what Excel
    writes on Windows; latin-1 as the last resort never fails, so a file is never refused
    for its encoding alone (odd characters show up in labels, not as a crash)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        try:
            return data.decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise DictionaryError(
                f"file starts with a UTF-8 byte-order mark but byte {exc.start} is not UTF-8",
                file=source, row=_row_of_offset(data, exc.start), column=None,
            ) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise DictionaryError("file has a UTF-16 byte-order mark but is not UTF-16",
                                  file=source, row=1) from None
    if b"\x00" in data[:4096]:
        raise DictionaryError("binary file (NUL bytes), not a CSV data dictionary",
                              file=source, row=_row_of_offset(data, data.index(b"\x00")))
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _row_of_offset(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


def _first_line(text: str) -> str:
    m = re.search(r"\r\n|\r|\n", text)
    return text[: m.start()] if m else text


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header line into the most known column names."""
    best, best_hits = ",", -1
    for delim in (",", ";", "\t"):
        try:
            cells = next(csv.reader([header_line], delimiter=delim))
        except (csv.Error, StopIteration):
            continue
        hits = sum(1 for c in cells if _header_key(c))
        if hits > best_hits:
            best, best_hits = delim, hits
    return best


def _looks_like_csv_text(source: str) -> bool:
    if "\n" in source or "\r" in source or len(source) > 4096:
        return True
    if "," not in source and ";" not in source:
        return False
    try:
        return not Path(source).exists()
    except (OSError, ValueError):  # names too long, NUL bytes
        return True


def _read_source(source: str | bytes | PathLike[str]) -> tuple[bytes | str, str]:
    if isinstance(source, bytes | bytearray):
        return bytes(source), "<bytes>"
    if isinstance(source, str) and _looks_like_csv_text(source):
        return source, "<text>"
    path = Path(source)
    try:
        return path.read_bytes(), str(path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DictionaryError(f"cannot read the dictionary: {reason}", file=str(path)) from None


def load_dictionary(source: str | bytes | PathLike[str]) -> Dictionary:
    """Load a REDCap data dictionary from a path, CSV text or CSV bytes.

    Raises ``DictionaryError`` (with ``file``, ``row``, ``column``) when it is not a data
    dictionary; never another exception for bad input. Blank records are skipped; ragged
    records are padded or, when the extra cells are empty, trimmed, and noted in
    ``Dictionary.notes`` for the linter.
    """
    _raise_field_limit()
    content, name = _read_source(source)
    if isinstance(content, bytes):
        text, encoding = _decode(content, name)
    else:
        text, encoding = content.lstrip("\ufeff"), "str"
    if not text.strip():
        raise DictionaryError("the file is empty", file=name, row=1)

    delimiter = _sniff_delimiter(_first_line(text))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise DictionaryError(f"the header cannot be read as CSV: {exc}", file=name,
                              row=1) from None
    keys = [_header_key(h) for h in header]
    missing = [c for c in _REQUIRED_COLUMNS if c not in keys]
    if missing:
        raise DictionaryError(
            "not a REDCap data dictionary: the header lacks "
            + ", ".join(UI_HEADER[COLUMNS.index(c)] for c in missing)
            + f" (found {len(header)} columns: {', '.join(h[:40] for h in header[:6])}…)",
            file=name, row=1, column=UI_HEADER[COLUMNS.index(missing[0])],
        )
    seen: set[str] = set()
    for pos, key in enumerate(keys):
        if key is None:
            continue
        if key in seen:
            raise DictionaryError(f"column {header[pos]!r} appears twice in the header",
                                  file=name, row=1, column=header[pos])
        seen.add(key)
    width = len(header)

    fields: list[Field] = []
    notes: list[tuple[int, str, str]] = []
    row_no = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DictionaryError(f"CSV syntax error: {exc}", file=name, row=row_no + 1,
                                  column=None) from None
        row_no += 1
        if not any(c.strip() for c in cells):
            continue
        if len(cells) < width:
            if len(cells) < 4:
                notes.append((row_no, "", f"record has {len(cells)} of {width} cells; padded"))
            cells = cells + [""] * (width - len(cells))
        elif len(cells) > width:
            spill = cells[width:]
            if any(c.strip() for c in spill):
                raise DictionaryError(
                    f"record has {len(cells)} cells but the header has {width}; "
                    f"unquoted delimiter in a cell? (extra text {spill[0][:40]!r})",
                    file=name, row=row_no, column=f"#{width + 1}",
                )
            cells = cells[:width]
        for pos, cell in enumerate(cells):
            if len(cell) > MAX_CELL_CHARS:
                raise DictionaryError(f"cell of {len(cell)} characters", file=name,
                                      row=row_no, column=header[pos])
        fields.append(_make_field(cells, header, keys, row_no))

    if not fields:
        raise DictionaryError("the dictionary has a header but no fields", file=name, row=2)
    log.debug("loaded %d fields from %s (%s, delimiter %r)", len(fields), name, encoding,
              delimiter)
    return Dictionary(fields=fields, source=name, encoding=encoding, delimiter=delimiter,
                      header=list(header), notes=notes)


def _make_field(cells: list[str], header: list[str], keys: list[str | None], row: int) -> Field:
    raw = dict.fromkeys(COLUMNS, "")
    extra: dict[str, str] = {}
    for pos, (cell, key) in enumerate(zip(cells, keys, strict=True)):
        if key is None:
            extra[header[pos] or f"#{pos + 1}"] = cell
        else:
            raw[key] = cell
    ftype_raw = raw["field_type"]
    ftype = ftype_raw.strip().lower()
    ftype = FIELD_TYPE_ALIASES.get(ftype, ftype)
    return Field(
        name=raw["field_name"].strip(),
        form=raw["form_name"].strip(),
        section_header=raw["section_header"],
        field_type=ftype,
        label=raw["field_label"],
        choices_raw=raw["select_choices_or_calculations"],
        field_note=raw["field_note"],
        validation=raw["text_validation_type_or_show_slider_number"].strip(),
        validation_min=raw["text_validation_min"].strip(),
        validation_max=raw["text_validation_max"].strip(),
        identifier=raw["identifier"].strip().lower() == "y",
        branching_logic=raw["branching_logic"],
        required=raw["required_field"].strip().lower() == "y",
        alignment=raw["custom_alignment"].strip(),
        question_number=raw["question_number"].strip(),
        matrix_group=raw["matrix_group_name"].strip(),
        matrix_ranking=raw["matrix_ranking"].strip().lower() == "y",
        annotation=raw["field_annotation"],
        row=row,
        raw=raw,
        extra=extra,
        field_type_raw=ftype_raw,
    )


def read_toml(path: str | PathLike[str], *, what: str, name: str) -> dict[str, Any]:
    """A project TOML file as a dict; ``DictionaryError`` naming the file when it cannot be
    read (``cannot read <what>``) or is not TOML (``<name> is not valid TOML``)."""
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DictionaryError(f"cannot read {what}: {exc.strerror or exc}",
                              file=str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise DictionaryError(f"{name} is not valid TOML: {exc}", file=str(p)) from None
