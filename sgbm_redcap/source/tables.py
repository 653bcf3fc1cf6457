"""Tidy tables: one typed DataFrame per instrument, built from a flat export (CONTRACTS §4).

Non-repeating instruments get one row per record (per record and event in a longitudinal
project); repeating instruments one row per instance. Every table starts with the record id,
``redcap_event_name`` (longitudinal only), ``redcap_data_access_group`` and, where instances
exist, ``redcap_repeat_instance``; then the instrument's fields in dictionary order and its
``<form>_complete`` status.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.dictionary.missing import (
    NO_CODES,
    MissingCodes,
    accepts_missing_codes,
    missing_code_columns,
)
from sgbm_redcap.dictionary.model import checkbox_column, record_sort_key
from sgbm_redcap.errors import SourceDataError
from sgbm_redcap.source.casting import (
    FORM_STATUS,
    PROBLEM_COLUMNS,
    ColumnKind,
    cast_many,
    column_kind,
    text_values,
)

log = logging.getLogger(__name__)

EVENT = "redcap_event_name"
INSTRUMENT = "redcap_repeat_instrument"
INSTANCE = "redcap_repeat_instance"
DAG = "redcap_data_access_group"
SPECIAL_COLUMNS = (EVENT, INSTRUMENT, INSTANCE, DAG)
#: one row per value that is a missing data code: the field is blank in its typed table and
#: the code (and its label, the reason) is kept here
REASON_COLUMNS = [
    "record_id", "redcap_event_name", "form", "redcap_repeat_instance",
    "field", "code", "reason",
]


def no_reasons() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in REASON_COLUMNS})


@dataclass
class StudyTables(Mapping[str, pd.DataFrame]):
    """The study's records as typed tables, plus the raw export they came from.

    Attributes:
        raw: the flat export as strings ('' for blank): what logic and checks evaluate on.
        dictionary: the Dictionary the tables were typed with.
        type_problems: one row per value that did not fit its declared type (its column is
            then kept as raw text), columns ``PROBLEM_COLUMNS``.
        repeating_forms: instruments that repeat.
        pull: provenance of the pull that produced ``raw`` (None for files).
        as_of: the data cut-off of a view made by :func:`sgbm_redcap.source.asof.as_of`
            (None: the records as pulled).
        not_yet: in such a view, the dates it blanked because they were after the cut-off
            (record_id, instance, field): not yet known, so neither missing nor a finding.
        missing_reasons: one row per value that is one of the project's missing data codes
            (``REASON_COLUMNS``): such a value is blank (<NA>) in its typed table, never a
            type problem, and its code and reason are here (``raw`` keeps the code too).
        missing_codes: the project's missing data codes the tables were typed with.
    """

    raw: pd.DataFrame
    dictionary: Any
    tables: dict[str, pd.DataFrame]
    type_problems: pd.DataFrame
    repeating_forms: list[str] = field(default_factory=list)
    pull: Any = None
    as_of: date | None = None
    not_yet: pd.DataFrame | None = None
    missing_reasons: pd.DataFrame = field(default_factory=no_reasons)
    missing_codes: MissingCodes = NO_CODES

    def __getitem__(self, form: str) -> pd.DataFrame:
        try:
            return self.tables[form]
        except KeyError:
            raise KeyError(
                f"No instrument {form!r}; instruments: {', '.join(self.tables)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.tables.items())
        return (f"StudyTables({len(self.raw)} raw rows; {sizes}; "
                f"{len(self.type_problems)} type problems; "
                f"{len(self.missing_reasons)} missing data codes)")

    @property
    def record_id(self) -> str:
        return str(self.dictionary.record_id)


def canonical_order(raw: pd.DataFrame, record_id: str) -> pd.DataFrame:
    """Records in REDCap's natural order (numbers numerically, then the rest); each record's
    rows keep the order the export gave them."""
    if raw.empty:
        return raw.reset_index(drop=True)
    ranks = {rid: i for i, rid in enumerate(sorted(raw[record_id].unique(), key=record_sort_key))}
    order = raw[record_id].map(ranks).to_numpy()
    if (order[1:] >= order[:-1]).all():  # already in order, as REDCap exports are
        ordered = raw.copy(deep=False)
    else:
        ordered = raw.iloc[order.argsort(kind="stable")]
    ordered.index = pd.RangeIndex(len(ordered))
    return ordered


def normalise_raw(raw: pd.DataFrame, record_id: str, *, source: str = "export",
                  strings: bool = False) -> pd.DataFrame:
    """Strings everywhere ('' for blank), instance numbers without '.0', canonical order.

    ``strings=True``: the caller guarantees every value is already a ``str`` (a frame read
    with an all-string schema and no nulls), so the per-column check is skipped."""
    if record_id not in raw.columns:
        raise SourceDataError(
            f"The records from {source} have no column {record_id!r}, the record id field "
            f"of the data dictionary (first columns: {', '.join(map(str, raw.columns[:5]))}). "
            "Are the records and the dictionary from the same project?",
            file=source,
            column=record_id,
        )
    duplicated = sorted(set(raw.columns[raw.columns.duplicated()]))
    if duplicated:
        raise SourceDataError(
            f"The records from {source} have repeated columns: {', '.join(map(str, duplicated))}",
            file=source, column=str(duplicated[0]))
    out = raw.copy(deep=False)  # columns are replaced below, never changed in place
    for col in () if strings else out.columns:  # NaN becomes '', numbers become text
        if out[col].dtype != object or pd.api.types.infer_dtype(
                out[col], skipna=False) not in ("string", "empty"):
            values = out[col].astype(object)
            out[col] = values.where(values.notna(), "").astype(str)
    if "redcap_form_instance" in out.columns and INSTANCE not in out.columns:
        # some REDCap versions' exports (e.g. REDCapTidieR's recorded fixtures) use this name
        out = out.rename(columns={"redcap_form_instance": INSTANCE})
    if INSTANCE in out.columns:
        out[INSTANCE] = out[INSTANCE].str.replace(r"\.0$", "", regex=True)
    return canonical_order(out, record_id)


def _form_columns(dictionary: Any, form: str, present: set[str]) -> list[tuple[str, ColumnKind, str]]:
    """(export column, kind, field name) of a form, in dictionary order, if in the export."""
    cols: list[tuple[str, ColumnKind, str]] = []
    for f in dictionary.form_fields(form):
        if f.name == dictionary.record_id or str(f.field_type).lower() == "descriptive":
            continue
        kind = column_kind(f)
        if kind.kind == "checkbox":
            codes = [code for code, _label in kind.choices]
            names = (f.export_columns() if hasattr(f, "export_columns")
                     else [checkbox_column(f.name, code) for code in codes])
            cols.extend((col, kind, f.name) for col in names if col in present)
        elif f.name in present:
            cols.append((f.name, kind, f.name))
    complete = f"{form}_complete"
    if complete in present:
        status = ColumnKind("category", "form status", tuple(FORM_STATUS.items()))
        cols.append((complete, status, complete))
    return cols


def _form_positions(columns: Mapping[str, np.ndarray], n_rows: int, form: str,
                    repeating: bool, data_cols: list[str], longitudinal: bool,
                    event_forms: dict[str, set[str]] | None) -> np.ndarray:
    """Positions in the export of a form's rows. Works on positions and single columns so no
    table-wide copy of the (mostly blank) export is made per form."""
    if INSTRUMENT not in columns:
        base = np.arange(n_rows)
    elif repeating:
        return np.flatnonzero(columns[INSTRUMENT] == form)
    else:
        base = np.flatnonzero(columns[INSTRUMENT] == "")
    if not longitudinal:
        return base
    if event_forms:
        designated = [e for e, forms in event_forms.items() if form in forms]
        return base[pd.Index(columns[EVENT][base]).isin(designated)]
    if not data_cols:
        return base[:0]
    holds_data = np.zeros(len(base), dtype=bool)
    for col in data_cols:
        holds_data |= columns[col][base] != ""
    return base[holds_data]


def build_tables(
    raw: pd.DataFrame,
    dictionary: Any,
    *,
    repeating_forms: list[str] | None = None,
    event_forms: dict[str, set[str]] | None = None,
    pull: Any = None,
    source: str = "export",
    normalised: bool = False,
    missing_codes: MissingCodes = NO_CODES,
) -> StudyTables:
    """Type a flat export into one table per instrument.

    Args:
        raw: flat export (as read with ``dtype=str``); normalised here, unless
            ``normalised`` says it came from ``normalise_raw`` unchanged.
        dictionary: the project's Dictionary (``sgbm_redcap.dictionary``).
        repeating_forms: repeating instruments from the project setup; instruments with
            rows in ``redcap_repeat_instrument`` are treated as repeating too.
        event_forms: unique event name -> forms designated for it (longitudinal projects);
            without it a form's rows are those events where it holds any data.
        missing_codes: the project's missing data codes (project info
            ``missing_data_codes``): a field that takes codes and holds one is blank in its
            table, with the code and reason in ``missing_reasons`` (``dictionary.missing``
            says which fields take codes: not ``@NOMISSING``, the record id, calcs).
    """
    rid = dictionary.record_id
    if not normalised:
        raw = normalise_raw(raw, rid, source=source)
    present = set(raw.columns)
    longitudinal = EVENT in present
    in_data = set(raw[INSTRUMENT].unique()) - {""} if INSTRUMENT in present else set()
    repeating = [f for f in dictionary.forms if f in set(repeating_forms or ()) | in_data]
    dag = _dag_by_record(raw, rid)
    all_records = pd.Index(raw[rid].unique())
    columns = {c: raw[c].to_numpy(dtype=object) for c in raw.columns}
    # a non-repeating form of a classic project has the same rows as every other one
    one_per_record: tuple[np.ndarray, np.ndarray] | None = None
    tables: dict[str, pd.DataFrame] = {}
    problems: list[pd.DataFrame] = []
    reasons: list[pd.DataFrame] = []
    known = {rid, *SPECIAL_COLUMNS}
    coded = ({f.name: missing_code_columns(f, missing_codes) for f in dictionary
              if accepts_missing_codes(f, rid)} if missing_codes else {})
    for form in dictionary.forms:
        cols = _form_columns(dictionary, form, present)
        known.update(c for c, _k, _f in cols)
        is_rep = form in repeating
        needed = [c for c in (rid, *SPECIAL_COLUMNS) if c in present] + [c for c, _k, _f in cols]
        if not is_rep and not longitudinal:
            if one_per_record is None:
                base = _form_positions(columns, len(raw), form, False, [], False, None)
                one_per_record = _one_row_per_record(columns[rid], base, all_records, rid)
            positions, record_ids = one_per_record
            rows = _take_rows(columns, needed, positions)
            rows[rid] = record_ids
        else:
            positions = _form_positions(columns, len(raw), form, is_rep,
                                        [c for c, _k, _f in cols], longitudinal, event_forms)
            rows = _take_rows(columns, needed, positions)
        code_cols = [c for f in dictionary.form_fields(form) for c in coded.get(f.name, ())
                     if c in present]
        known.update(code_cols)
        rows.update(_take_rows(columns, code_cols, positions))
        reasons.extend(_take_codes(rows, form, cols, code_cols, coded, missing_codes, rid,
                                   longitudinal))
        table, form_problems = _type_form(rows, form, cols, rid, dag, is_rep, longitudinal)
        tables[form] = table
        problems.extend(form_problems)
    unknown = [c for c in raw.columns if c not in known]
    _check_same_project(raw, unknown, known, source)
    if unknown:
        log.warning("%d export columns are not in the dictionary and stay only in .raw: %s",
                    len(unknown), ", ".join(unknown[:10]))
    type_problems = (pd.concat(problems, ignore_index=True) if problems
                     else pd.DataFrame(columns=PROBLEM_COLUMNS))
    if len(type_problems):
        log.warning("%d values do not fit their declared type; their columns are kept as "
                    "raw text (see type_problems)", len(type_problems))
    missing_reasons = (pd.concat(reasons, ignore_index=True) if reasons else no_reasons())
    return StudyTables(raw=raw, dictionary=dictionary, tables=tables,
                       type_problems=type_problems, repeating_forms=repeating, pull=pull,
                       missing_reasons=missing_reasons, missing_codes=missing_codes)


def _take_codes(rows: dict[str, np.ndarray], form: str, cols: list[tuple[str, ColumnKind, str]],
                code_cols: list[str], coded: Mapping[str, list[str]], codes: MissingCodes,
                rid: str, longitudinal: bool) -> list[pd.DataFrame]:
    """Blank every missing data code of the form's rows (in ``rows``, before typing) and
    return its reason rows. A checkbox's code column (``name___unk``) checked is a reason
    row of the checkbox field; its options stay as they are."""
    out: list[pd.DataFrame] = []
    wanted = list(codes.codes)
    for col, kind, name in cols:
        if name not in coded or kind.kind == "checkbox":
            continue
        values = rows[col]
        mask = pd.Index(values).isin(wanted) if len(values) else np.zeros(0, dtype=bool)
        if mask.any():
            out.append(_reason_rows(rows, mask, form, name, values[mask], codes, rid,
                                    longitudinal))
            values = values.copy()
            values[mask] = ""
            rows[col] = values
    by_column = {checkbox_column(name, code): (name, code)
                 for name, names in coded.items() for code in codes}
    for col in code_cols:
        mask = rows[col] == "1"
        if mask.any():
            name, code = by_column[col]
            out.append(_reason_rows(rows, mask, form, name, np.full(int(mask.sum()), code,
                                                                    dtype=object),
                                    codes, rid, longitudinal))
    return out


def _reason_rows(rows: dict[str, np.ndarray], mask: np.ndarray, form: str, name: str,
                 found: np.ndarray, codes: MissingCodes, rid: str,
                 longitudinal: bool) -> pd.DataFrame:
    return pd.DataFrame({
        "record_id": rows[rid][mask],
        "redcap_event_name": rows[EVENT][mask] if longitudinal else "",
        "form": form,
        "redcap_repeat_instance": rows[INSTANCE][mask] if INSTANCE in rows else "",
        "field": name,
        "code": found,
        "reason": [codes.label(str(c)) for c in found],
    }, columns=REASON_COLUMNS)


#: Columns REDCap adds to an export that are not fields.
_EXPORT_EXTRAS = ("redcap_survey_identifier",)


def _check_same_project(raw: pd.DataFrame, unknown: list[str], known: set[str],
                        source: str) -> None:
    """Refuse records that mostly do not belong to the dictionary (another project's export
    would otherwise give empty tables that look like a project without data)."""
    data = [c for c in raw.columns if c not in SPECIAL_COLUMNS and c not in _EXPORT_EXTRAS
            and not c.endswith("_timestamp")]
    strangers = [c for c in unknown if c in data]
    if data and len(strangers) * 2 > len(data):
        raise SourceDataError(
            f"{len(strangers)} of the {len(data)} columns in the records from {source} are not "
            f"in the data dictionary (e.g. {', '.join(strangers[:5])}): the records and the "
            "dictionary do not seem to come from the same project.",
            file=source,
            column=strangers[0],
        )


def _dag_by_record(raw: pd.DataFrame, rid: str) -> pd.Series:
    if DAG not in raw.columns:
        return pd.Series(dtype="string")
    named = raw.loc[raw[DAG] != "", [rid, DAG]]
    return named.drop_duplicates(rid).set_index(rid)[DAG].astype("string")


_POSITION = "__position_in_export__"


def _one_row_per_record(record_ids: np.ndarray, positions: np.ndarray, all_records: pd.Index,
                        rid: str) -> tuple[np.ndarray, np.ndarray]:
    """(positions, record ids): each record's first row among ``positions``, in canonical
    order; position -1 for a record without one (its row is then blank)."""
    rows = pd.DataFrame({rid: record_ids[positions], _POSITION: positions})
    rows = rows.drop_duplicates(rid, keep="first")
    missing = all_records.difference(pd.Index(rows[rid]), sort=False)
    if len(missing):
        filler = pd.DataFrame({rid: list(missing), _POSITION: -1})
        rows = canonical_order(pd.concat([rows, filler], ignore_index=True), rid)
    return rows[_POSITION].to_numpy(dtype=np.intp), rows[rid].to_numpy(dtype=object)


def _take_rows(columns: Mapping[str, np.ndarray], needed: list[str],
               positions: np.ndarray) -> dict[str, np.ndarray]:
    """The ``needed`` columns at ``positions`` (-1 = a blank row), as object arrays."""
    blank = positions < 0
    rows: dict[str, np.ndarray] = {}
    for col in needed:
        values = columns[col].take(positions)
        if blank.any():
            values[blank] = ""
        rows[col] = values
    return rows



def _type_form(rows: dict[str, np.ndarray], form: str, cols: list[tuple[str, ColumnKind, str]],
               rid: str, dag: pd.Series, repeating: bool, longitudinal: bool,
               ) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    index = pd.RangeIndex(len(rows[rid]))
    typed_cols: dict[str, Any] = {rid: pd.array(rows[rid], dtype="string")}
    if longitudinal:
        typed_cols[EVENT] = pd.array(rows[EVENT], dtype="string")
    typed_cols[DAG] = pd.Series(rows[rid], index=index).map(dag).astype("string")
    has_instances = INSTANCE in rows and (repeating or (rows[INSTANCE] != "").any())
    if has_instances:
        instances = pd.Series(rows[INSTANCE], index=index)
        typed_cols[INSTANCE] = pd.to_numeric(instances.where(instances != ""),
                                             errors="coerce").astype("Int64")
    problems: list[pd.DataFrame] = []
    by_kind: dict[ColumnKind, list[str]] = {}
    for col, kind, _field in cols:
        by_kind.setdefault(kind, []).append(col)
    cast: dict[str, tuple[Any, np.ndarray]] = {}
    for kind, names in by_kind.items():
        cast.update(zip(names, cast_many([rows[c] for c in names], kind), strict=True))
    for col, kind, _field in cols:
        typed, bad = cast[col]
        if bad.any():
            typed = text_values(rows[col])
            problems.append(_problem_rows(rows, bad, form, col, kind, rid, longitudinal))
        typed_cols[col] = typed
    return pd.DataFrame(typed_cols, index=index), problems


def _problem_rows(rows: dict[str, np.ndarray], bad: np.ndarray, form: str, col: str,
                  kind: ColumnKind, rid: str, longitudinal: bool) -> pd.DataFrame:
    mask = np.asarray(bad, dtype=bool)
    hit = {c: rows[c][mask] for c in (rid, EVENT, INSTANCE, col) if c in rows}
    expected = "checkbox 0/1" if kind.kind == "checkbox" else f"{kind.kind} ({kind.reason})"
    if kind.kind == "category":
        expected += ": one of " + ", ".join(code for code, _ in kind.choices)
    return pd.DataFrame({
        "record_id": hit[rid],
        "redcap_event_name": hit[EVENT] if longitudinal else "",
        "form": form,
        "redcap_repeat_instance": hit[INSTANCE] if INSTANCE in hit else "",
        "field": col,
        "value": hit[col],
        "expected": expected,
    }, columns=PROBLEM_COLUMNS)
