"""``content=record`` import planning: every row of an import checked and turned into the
writes it asks for, before anything is written (REDCAP_API.md §4.4).

:func:`plan_import` answers with the planned rows and DAG assignments or raises REDCap's 400.
Two passes plan the same thing:

* the **distinct-value pass** (normal imports): each row's non-blank values are kept with
  C-level dict/set operations and checked once per distinct ``(column, value)`` pair after
  the loop; anything it cannot store exactly as given sends the import to
* the **exact pass**: value by value, with REDCap's wording for every error and the date
  conversions; overwrite imports (which carry blanks) always take it.

What both share (a row's key, its forms, its DAG, merging rows with the same key, the errors
about records) is one :class:`_Planner`. The tests compare the two passes' results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sgbm_redcap.dictionary.model import checkbox_column

from ..handler import Context
from ..meta import COMPLETE_LABELS, ProjectMeta
from ..protocol import ApiError, to_text
from ..rows import RowKey, applicable_forms
from ..validation import canonical_date, convert_date, make_validator

SPECIAL = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
           "redcap_data_access_group", "redcap_survey_identifier")
_UNSET: Any = object()
_second = itemgetter(1)
#: column → (kind, target field or form, the form it is on, its value check or None)
DataColumns = dict[str, tuple[str, str, str, Any]]


@dataclass
class PlannedRow:
    key: RowKey
    values: dict[str, str]  # column → value (checkbox columns included)


def eav_to_flat(meta: ProjectMeta, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """EAV import rows (``record, field_name, value``...) as flat rows."""
    pk = meta.record_id
    merged: dict[tuple[str, str, str, str], dict[str, str]] = {}
    for r in rows:
        rec = r.get("record", "")
        key = (rec, r.get("redcap_event_name", ""), r.get("redcap_repeat_instrument", ""),
               r.get("redcap_repeat_instance", ""))
        row = merged.setdefault(key, {pk: rec})
        if "redcap_event_name" in r:
            row["redcap_event_name"] = key[1]
        if "redcap_repeat_instrument" in r:
            row["redcap_repeat_instrument"] = key[2]
            row["redcap_repeat_instance"] = key[3]
        name, value = r.get("field_name", ""), r.get("value", "")
        f = meta.fields.get(name)
        if f is not None and f.ftype == "checkbox" and value in f.choices:
            row[checkbox_column(name, value)] = "1"
        elif name:
            row[name] = value
    return list(merged.values())


def plan_import(ctx: Context, rows: list[dict[str, Any]], overwrite: bool,
                date_format: str, *, validate: bool = True,
                ) -> tuple[list[PlannedRow], dict[str, str]]:
    """Validate every row; return the planned writes and DAG assignments (or raise 400)."""
    meta = ctx.meta
    header = _checked_header(meta, rows)
    data_cols = _data_columns(meta, header, validate)
    if not overwrite:
        planner = _Planner(ctx, data_cols)
        if _plan_distinct(planner, rows, _DistinctValues(header, data_cols), date_format):
            return planner.result()
    planner = _Planner(ctx, data_cols)
    _plan_exact(planner, rows, overwrite, date_format)
    return planner.result()


def _checked_header(meta: ProjectMeta, rows: list[dict[str, Any]]) -> list[str]:
    """The import's columns, refused as REDCap refuses them: no rows, no record id, a column
    the project does not have, repeat columns in a project without repeats."""
    pk = meta.record_id
    if not rows:
        raise ApiError("No data was provided.")
    header = _header(rows)
    if pk not in header:
        raise ApiError(f"The record id field ({pk}) is missing.")
    timestamps = {f"{f}_timestamp" for f in meta.forms}
    unknown = [h for h in header if h not in meta.columns and h not in SPECIAL
               and h not in timestamps
               and not (h in meta.fields and meta.fields[h].ftype != "descriptive")]
    if unknown:
        raise ApiError("The following fields were not found in the project as real data "
                       "fields: " + ", ".join(unknown))
    if not meta.has_repeating and any(
            r.get("redcap_repeat_instrument", "") or r.get("redcap_repeat_instance", "")
            for r in rows):
        raise ApiError("Trying to import repeat instance/instrument fields! This project does "
                       "not have any repeating instruments or events enabled.")
    return header


def _data_columns(meta: ProjectMeta, header: list[str], validate: bool) -> DataColumns:
    """The header's columns that carry data to store (calcs, files, timestamps, the record id
    and the ``redcap_*`` columns do not), each with its form and value check."""
    timestamps = {f"{f}_timestamp" for f in meta.forms}
    data_cols: DataColumns = {}
    for h in header:
        if h in SPECIAL or h in timestamps or h == meta.record_id:
            continue
        spec = meta.columns.get(h)
        if spec is None:  # a checkbox base name or a calc/file field: nothing to store
            continue
        kind, target, _code = spec
        if kind == "field":
            f = meta.fields[target]
            if f.ftype in ("calc", "file") or "@CALCTEXT" in f.annotation.upper() \
                    or "@CALCDATE" in f.annotation.upper():
                continue
            form = f.form
        elif kind == "checkbox":
            form = meta.fields[target].form
        else:
            form = target
        data_cols[h] = (kind, target, form,
                        _validator(meta, target) if kind == "field" and validate else None)
    return data_cols


def _header(rows: list[dict[str, Any]]) -> list[str]:
    """The import's column names in order of first appearance, i.e.
    ``list(dict.fromkeys(chain.from_iterable(rows)))``, visiting only the rows that add a
    name (export-shaped rows all carry the same columns: one C-level subset test each)."""
    header: dict[str, None] = {}
    known: frozenset[str] = frozenset()
    for r in rows:
        if known.issuperset(r):
            continue
        header.update(dict.fromkeys(r))
        known = frozenset(header)
    return list(header)


@dataclass
class _Planner:
    """One import's plan as it grows, and what the passes share: the key a row writes to,
    the forms it shows, its DAG, and the merging of rows with the same key."""

    ctx: Context
    data_cols: DataColumns
    plan: list[PlannedRow] = field(default_factory=list)
    dag_of: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # value errors, one CSV line each
    record_errors: list[str] = field(default_factory=list)  # REDCap reports the first
    bad_events: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        meta = self.meta = self.ctx.meta
        self.pk = meta.record_id
        self.longitudinal = meta.longitudinal
        self._text_keys = (self.pk, *SPECIAL)
        self.dags = meta.dag_names
        self.user_dag = self.ctx.user_dag
        self.first_event = meta.event_names[0] if meta.longitudinal and meta.events else ""
        self._seen: dict[RowKey, PlannedRow] = {}
        self._new_counter: dict[tuple[str, str, str], int] = {}
        self._name_errors: dict[str, Any] = {}
        self._repeats: dict[Any, bool] = {}  # (form, event) and event → repeats there
        self._shown: dict[tuple[str, str, bool], frozenset[str]] = {}

    def key(self, r: dict[str, Any]) -> RowKey | None:
        """The row's ``(record, event, repeat instrument, instance)``; ``None`` (and the
        error noted) when the record name, event or repeat columns are wrong."""
        pk = self.pk
        for k in self._text_keys:
            v = r.get(k)
            if v is not None and type(v) is not str:
                r[k] = to_text(v)
        rec = r.get(pk, "").strip()
        if not rec:
            self.record_errors.append(f"The record id field ({pk}) is missing.")
            return None
        msg = self._name_errors.get(rec, _UNSET)
        if msg is _UNSET:  # a record's rows come together: check its name once
            msg = self._name_errors[rec] = _record_name_error(rec)
        if msg:
            self.record_errors.append(msg)
            return None
        ev = ""
        if self.longitudinal:
            ev = r.get("redcap_event_name", "").strip() or self.first_event
            if self.meta.event(ev) is None:
                self.bad_events.append(ev)
                return None
        ri = r.get("redcap_repeat_instrument", "").strip()
        if ri and not (ri in self.meta.form_fields and self._repeating(ri, ev)):
            self.record_errors.append(f"The value of redcap_repeat_instrument ({ri}) is not a "
                                      "repeating instrument in this project/event.")
            return None
        inst = self._instance(rec, ev, ri, r.get("redcap_repeat_instance", "").strip())
        return None if inst is None else (rec, ev, ri, inst)

    def _repeating(self, form: str, event: str) -> bool:
        repeats = self._repeats.get((form, event))
        if repeats is None:
            repeats = self._repeats[(form, event)] = self.meta.repeating_form(form, event)
        return repeats

    def _instance(self, rec: str, ev: str, ri: str, raw: str) -> int | None:
        """The row's instance: 0 for a non-repeating row, ``new`` counted on from the stored
        instances; ``None`` (error noted) for a bad value."""
        event_repeats = self._repeats.get(ev)
        if event_repeats is None:
            event_repeats = self._repeats[ev] = self.meta.repeating_event(ev)
        if not (ri or event_repeats):
            if raw:
                self.record_errors.append(f"Record {rec}: redcap_repeat_instance was given "
                                          "without a repeating instrument or repeating event.")
                return None
            return 0
        if raw == "new":
            ck = (rec, ev, ri)
            if ck not in self._new_counter:
                self._new_counter[ck] = _max_instance(self.ctx, rec, ev, ri)
            self._new_counter[ck] += 1
            return self._new_counter[ck]
        if raw.isdigit() and 1 <= int(raw) <= 32767:
            return int(raw)
        if not raw:
            return 1
        self.record_errors.append(f"The value of redcap_repeat_instance ({raw}) must be "
                                  "a positive integer of at most 32767 or 'new'.")
        return None

    def forms(self, key: RowKey) -> frozenset[str]:
        """The forms a row with this key shows (looked up once per row shape)."""
        shape = (key[1], key[2], bool(key[3]))
        forms = self._shown.get(shape)
        if forms is None:
            forms = self._shown[shape] = applicable_forms(self.meta, key)
        return forms

    def add(self, r: dict[str, Any], key: RowKey, vals: dict[str, str], overwrite: bool) -> None:
        """The row's DAG noted and its values planned, merged into an earlier row with the
        same key (a classic project refuses a record given twice)."""
        rec = key[0]
        if "redcap_data_access_group" in r:
            d = r["redcap_data_access_group"].strip()
            if d and d not in self.dags:
                self.errors.append(_csv_line(rec, "redcap_data_access_group", d,
                                             "The value is not a valid Data Access Group"))
            elif self.user_dag and d and d != self.user_dag:
                self.errors.append(_csv_line(
                    rec, "redcap_data_access_group", d, "You cannot assign a record to another "
                    "Data Access Group because you are in a Data Access Group"))
            elif d or overwrite:
                self.dag_of[rec] = d
        prior = self._seen.get(key)
        if prior is None:
            planned = self._seen[key] = PlannedRow(key, vals)
            self.plan.append(planned)
        elif not self.longitudinal and not self.meta.has_repeating:
            self.record_errors.append("The records listed below occur more than once in the "
                                      f"data being imported: {rec}")
        else:
            prior.values.update(vals)

    def result(self) -> tuple[list[PlannedRow], dict[str, str]]:
        """The plan and DAG assignments, or REDCap's 400 for what went wrong."""
        if self.bad_events:
            raise ApiError("The following values of redcap_event_name are invalid: "
                           + ", ".join(dict.fromkeys(self.bad_events)))
        if self.record_errors:
            raise ApiError(self.record_errors[0])
        if self.errors:
            raise ApiError("\n".join(self.errors))
        if self.user_dag:
            for p in self.plan:
                self.dag_of.setdefault(p.key[0], self.user_dag)
        return self.plan, self.dag_of


class _DistinctValues:
    """The import's values checked once per distinct (column, value) pair.

    Study data repeats values heavily (codes, dates, doses), so validating the distinct pairs
    after one pass of C-level dict/set operations per row replaces a Python-level step per
    value. Any pair that is not stored exactly as given (a failure, a blank after stripping,
    a date needing conversion, a non-text value) sends the import back to the value-by-value
    pass, which words the errors and conversions exactly as before.
    """

    def __init__(self, header: list[str], data_cols: DataColumns):
        self.data_cols = data_cols
        self.skipped = frozenset(h for h in header if h not in data_cols)
        self.pairs: set[tuple[str, Any]] = set()
        self._allowed: dict[frozenset[str], frozenset[str]] = {}

    def allowed(self, forms: frozenset[str]) -> frozenset[str]:
        """Columns a row showing ``forms`` may carry a value in."""
        got = self._allowed.get(forms)
        if got is None:
            got = self._allowed[forms] = self.skipped | {
                h for h, spec in self.data_cols.items() if spec[2] in forms}
        return got

    def all_valid(self, data_cols: DataColumns, date_format: str) -> bool:
        ymd = date_format == "YMD"
        for h, v in self.pairs:
            if type(v) is not str or v.strip() != v:
                return False
            kind, _target, _form, check = data_cols[h]
            if kind == "checkbox":
                if v not in ("0", "1"):
                    return False
            elif kind == "complete":
                if v not in COMPLETE_LABELS:
                    return False
            elif check is not None:
                if v in check.codes:
                    continue
                if check.dates and not (ymd and canonical_date(v)):
                    return False
                if check(v):
                    return False
        return True


def _plan_distinct(planner: _Planner, rows: list[dict[str, Any]], fast: _DistinctValues,
                   date_format: str) -> bool:
    """Plan a normal import by distinct values; ``False`` when it met anything the exact
    pass must word (an error, a conversion, a value outside the row's forms)."""
    key_of, forms_of, add = planner.key, planner.forms, planner.add
    allowed_of: dict[frozenset[str], frozenset[str]] = {}
    skipped, pairs = fast.skipped, fast.pairs
    for r in rows:
        key = key_of(r)
        if key is None:
            continue
        forms = forms_of(key)
        # normal imports ignore blank/null values: drop them at C speed (export-shaped rows
        # are mostly blank); the values are checked once per distinct value after the loop
        vals = dict(filter(_second, r.items()))
        allowed = allowed_of.get(forms)
        if allowed is None:
            allowed = allowed_of[forms] = fast.allowed(forms)
        if not allowed.issuperset(vals):
            return False  # a value outside the row's forms: the exact pass says which
        for h in vals.keys() & skipped:
            del vals[h]
        try:
            pairs.update(vals.items())
        except TypeError:  # an unhashable value (a JSON list...): the exact pass
            return False
        add(r, key, vals, False)
    return fast.all_valid(planner.data_cols, date_format)


def _plan_exact(planner: _Planner, rows: list[dict[str, Any]], overwrite: bool,
                date_format: str) -> None:
    """Plan an import value by value, every error worded as REDCap words it."""
    for r in rows:
        key = planner.key(r)
        if key is None:
            continue
        forms = planner.forms(key)
        vals: dict[str, str] = {}
        for h, v in (r.items() if overwrite else filter(_second, r.items())):
            spec = planner.data_cols.get(h)
            if spec is None:
                continue
            v = (v if type(v) is str else to_text(v)).strip()
            if spec[2] not in forms:
                if v != "":
                    planner.errors.append(_outside_forms(planner.meta, key, h, v, spec[2]))
                continue
            if v == "":
                if overwrite:  # an overwrite import's blank clears the value
                    vals[h] = "0" if spec[0] == "checkbox" else ""
                continue
            v, problem = _checked_value(h, spec, v, date_format)
            if problem:
                planner.errors.append(_csv_line(key[0], h, v, problem))
            else:
                vals[h] = v
        planner.add(r, key, vals, overwrite)


def _checked_value(column: str, spec: tuple[str, str, str, Any], v: str,
                   date_format: str) -> tuple[str, str | None]:
    """A non-blank value as it is stored (dates converted to Y-M-D) and what is wrong with
    it, if anything."""
    kind, target, _form, check = spec
    if kind == "checkbox":
        if v not in ("0", "1"):
            return v, (f"{target} is a checkbox field and thus can only have a value of '1' "
                       "(checked) or '0' (unchecked).")
    elif kind == "complete":
        if v not in COMPLETE_LABELS:
            return v, f"The value is not a valid category for {column}"
    elif check is not None:
        if v in check.codes:  # a missing data code is stored as it is, never converted
            return v, None
        if check.dates and (date_format != "YMD" or not canonical_date(v)):
            v = convert_date(v, check.validation, date_format)
        return v, check(v) or None
    return v, None


def _outside_forms(meta: ProjectMeta, key: RowKey, column: str, v: str, form: str) -> str:
    """The error for a value on a form the row does not show."""
    rec, ev = key[0], key[1]
    if meta.longitudinal and form not in meta.forms_on_event(ev):
        return _csv_line(rec, column, v, f"This field ('{column}') exists on an instrument that "
                         f"is not designated for the event named '{meta.event_label(ev)}'. You "
                         "are not allowed to import data for this field into this event.")
    return _csv_line(rec, column, v, f"This field is on the instrument '{form}', which does not "
                     "match the redcap_repeat_instrument/redcap_repeat_instance of this row.")


def _record_name_error(rec: str) -> str | None:
    if any(c in rec for c in "+&#'"):
        return (f"The record name ({rec}) cannot contain a plus sign (+), ampersand (&), "
                "pound sign (#), or apostrophe.")
    if len(rec) > 100:
        return f"The record name ({rec}) cannot be longer than 100 characters."
    if "\n" in rec or "\r" in rec:
        return f"The record name ({rec}) cannot contain line breaks."
    return None


def _csv_line(*parts: str) -> str:
    return ",".join('"' + p.replace('"', '""') + '"' for p in parts)


def _validator(meta: ProjectMeta, name: str) -> Any:
    """The prepared import check of a field, cached with the design."""
    validators = meta.cache.setdefault("validators", {})
    check = validators.get(name, _UNSET)
    if check is _UNSET:
        check = validators[name] = make_validator(meta.fields[name], meta.codes_taken(name))
    return check


def _max_instance(ctx: Context, rec: str, ev: str, ri: str) -> int:
    stored = ctx.store.read_rows(ctx.pid, [rec])
    return max((k[3] for k in stored if k[1] == ev and k[2] == ri), default=0)
