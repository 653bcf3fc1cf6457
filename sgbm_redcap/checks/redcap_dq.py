"""REDCap's Data Quality module as REDCap counts it: rules A–I and custom rules over every
event, arm and repeating instance, with DAG and user-rights scoping and exclusions.

The study's own sweep (``checks.generic``, rules ``DQ-B`` … ``DQ-H``) is tuned for the sites
and departs from REDCap on purpose (docs/checks.md). This module is the other view: what
REDCap's *Data Quality* page would list, so that a data manager can hold our table next to
REDCap's. Definitions are REDCap's documented ones (docs/checks.md, "REDCap's Data Quality
rules"); where the documentation is silent the choice is written there.

What is checked ("cells"): every (record, event[, event instance]) the record has data in,
and on it every form designated for that event (every form in a classic project); a
repeating instrument is checked once per existing instance. A cell of a repeating instrument
sees the record's non-repeating values of the same event (``logic.context.fill_from_base``),
as REDCap's branching logic, calculations and rule logic do.

::

    project = DqProject(dictionary, records, form_events=..., repeating=...,
                        missing_codes=parse_missing_codes(info["missing_data_codes"]))
    result = run_redcap_dq(project)            # DqResult
    result.summary                             # rule, name, discrepancies (REDCap's table)
    result.discrepancies                       # one row per discrepancy (DQ_COLUMNS)
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sgbm_redcap.dictionary.missing import (
    NO_CODES,
    MissingCodes,
    accepts_missing_codes,
    is_missing_code,
    missing_code_columns,
)
from sgbm_redcap.dictionary.model import Dictionary
from sgbm_redcap.dictionary.model import Field as DictField
from sgbm_redcap.errors import LogicError
from sgbm_redcap.logic.context import fill_from_base
from sgbm_redcap.logic.refs import references
from sgbm_redcap.study_codes import Checkbox

#: REDCap's pre-defined rules, letter and name as REDCap's Data Quality page words them.
PREDEFINED: tuple[tuple[str, str], ...] = (
    ("A", "Blank values*"),
    ("B", "Blank values* (required fields only)"),
    ("C", "Field validation errors (incorrect data type)"),
    ("D", "Field validation errors (out of range)"),
    ("E", "Outliers for numerical fields (numbers, integers, sliders, calc fields)**"),
    ("F", "Hidden fields that contain values***"),
    ("G", "Multiple choice fields with invalid values"),
    ("H", "Incorrect values for calculated fields"),
    ("I", 'Fields containing "missing data codes"'),
)
LETTERS: tuple[str, ...] = tuple(letter for letter, _ in PREDEFINED)
#: the status REDCap's discrepancy list shows for each pre-defined rule
STATUS = {"A": "Missing", "B": "Missing", "C": "Validation error", "D": "Out of range",
          "E": "Outlier", "F": "Hidden field with value", "G": "Invalid value",
          "H": "Incorrect calculation", "I": "Missing data code"}
#: what REDCap shows instead of a value the user may not see
NO_RIGHTS_VALUE = "[cannot display data] (Reason: Lack of user privileges)"
#: the discrepancy columns
DQ_COLUMNS: list[str] = ["rule", "record", "redcap_event_name", "redcap_repeat_instrument",
                         "redcap_repeat_instance", "field", "value", "status", "dag",
                         "excluded"]
SUMMARY_COLUMNS: list[str] = ["rule", "name", "logic", "discrepancies", "excluded", "error"]
#: rule E: a value is an outlier beyond this many standard deviations from the mean
OUTLIER_SD = 2.0
#: rule E's field kinds: REDCap's "numbers, integers, sliders, calc fields"
OUTLIER_VALIDATIONS = frozenset({"integer", "number"})

_EVENT, _INSTR, _INST, _DAG = ("redcap_event_name", "redcap_repeat_instrument",
                               "redcap_repeat_instance", "redcap_data_access_group")
_KEYS = (_EVENT, _INSTR, _INST, _DAG)


# ----------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class CustomRule:
    """A custom Data Quality rule: REDCap's rule number, name and logic (a discrepancy
    wherever the logic is true), and whether it runs in real time on data entry."""

    number: int
    name: str
    logic: str
    real_time: bool = False

    @property
    def rule(self) -> str:
        return str(self.number)


@dataclass(frozen=True)
class Exclusion:
    """A discrepancy a data manager excluded (REDCap's "exclude" link): the rule, the
    record, and where (event, repeat instrument and instance, field; '' for a custom rule's
    field). Excluded discrepancies are listed but not counted, as on REDCap's page."""

    rule: str
    record: str
    redcap_event_name: str = ""
    redcap_repeat_instrument: str = ""
    redcap_repeat_instance: str = ""
    field: str = ""

    @property
    def key(self) -> tuple[str, ...]:
        return (self.rule, self.record, self.redcap_event_name, self.redcap_repeat_instrument,
                str(self.redcap_repeat_instance or ""), self.field)


@dataclass(frozen=True)
class DqScope:
    """Whose view of the data: REDCap runs the rules with the user's rights. ``dag`` (a
    unique group name) limits the records to that DAG and is the value of
    ``[user-dag-name]``; ``forms`` are the instruments the user may view (None: all).
    Rules A and B skip fields the user cannot view; the other pre-defined rules still count
    them but show no value; a custom rule that reads such a field is an error."""

    user: str = ""
    dag: str = ""
    forms: frozenset[str] | None = None


@dataclass
class DqProject:
    """What a Data Quality run reads of a REDCap project.

    ``records`` is the flat export of raw strings (every event and instance, with the DAG
    column when there are DAGs); ``form_events`` maps each unique event name to its forms
    (empty for a classic project: every form everywhere); ``repeating`` holds the
    ``(event, form)`` pairs of repeating instruments (event '' in a classic project) and
    ``repeating_events`` the repeating events."""

    dictionary: Dictionary
    records: pd.DataFrame
    form_events: Mapping[str, Sequence[str]] = field(default_factory=dict)
    repeating: frozenset[tuple[str, str]] = frozenset()
    repeating_events: frozenset[str] = frozenset()
    missing_codes: MissingCodes = NO_CODES
    custom_rules: Sequence[CustomRule] = ()


@dataclass
class DqResult:
    """REDCap's table (``summary``: rule, name, logic, discrepancies, excluded, error) and
    the discrepancies themselves (``discrepancies``: :data:`DQ_COLUMNS`)."""

    summary: pd.DataFrame
    discrepancies: pd.DataFrame

    @property
    def found_any(self) -> bool:
        """True when a rule found a discrepancy that is not excluded, or could not run."""
        return bool((~self.discrepancies["excluded"]).any()
                    or (self.summary["error"] != "").any())

    def counts(self) -> dict[str, int | None]:
        """rule → number of discrepancies (None where the rule could not run)."""
        return {r: (None if e else int(n)) for r, n, e in
                zip(self.summary["rule"], self.summary["discrepancies"], self.summary["error"],
                    strict=True)}


#: how REDCap's files spell a set flag (real_time_execute)
_TRUE_FLAGS = frozenset({"1", "y", "yes", "true"})


def _flag(text: str) -> bool:
    return text.strip().lower() in _TRUE_FLAGS


def read_rules_csv(text: str) -> list[CustomRule]:
    """Custom rules from REDCap's "Download Data Quality Rules (CSV)" file (columns
    ``rule_name``, ``rule_logic``, ``real_time_execute``); numbered in file order."""
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    out = []
    for i, row in enumerate(rows, 1):
        low = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
        if "rule_logic" not in low:
            raise ValueError("a Data Quality rules CSV needs the columns rule_name, rule_logic "
                             "(and optionally real_time_execute)")
        out.append(CustomRule(i, low.get("rule_name", "").strip() or f"Rule {i}",
                              low["rule_logic"].strip(),
                              _flag(low.get("real_time_execute", ""))))
    return out


def rules_from_project_xml(rules: Iterable[Mapping[str, str]]) -> list[CustomRule]:
    """Custom rules from a Project XML's ``<redcap:DataQualityRules>`` attributes, in their
    ``rule_order``."""
    items = [dict(r) for r in rules]
    items.sort(key=lambda r: int(r.get("rule_order") or 0))
    return [CustomRule(i, r.get("rule_name", "") or f"Rule {i}", r.get("rule_logic", ""),
                       _flag(r.get("real_time_execute") or ""))
            for i, r in enumerate(items, 1)]


def read_exclusions_csv(text: str) -> list[Exclusion]:
    """Exclusions from a CSV with the columns ``rule``, ``record`` and optionally
    ``redcap_event_name``, ``redcap_repeat_instrument``, ``redcap_repeat_instance``,
    ``field`` (what ``checks redcap-dq --csv`` writes, so a listing can be edited down)."""
    out = []
    for row in csv.DictReader(io.StringIO(text.lstrip("\ufeff"))):
        low = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not low.get("rule") or not low.get("record"):
            raise ValueError("an exclusions CSV needs the columns rule and record")
        out.append(Exclusion(low["rule"].upper() if low["rule"].isalpha() else low["rule"],
                             low["record"], low.get(_EVENT, ""), low.get(_INSTR, ""),
                             low.get(_INST, ""), low.get("field", "")))
    return out


# ----------------------------------------------------------------------------- cells
class _Cells:
    """The context table (every row of the export, repeating rows filled from their
    record-event row) and, per form, the index of the rows that are its cells."""

    def __init__(self, project: DqProject, scope: DqScope) -> None:
        d = project.dictionary
        self.project = project
        self.rid = d.record_id
        raw = project.records.copy()
        for c in _KEYS:
            if c not in raw.columns:
                raw[c] = ""
        raw = raw.fillna("").astype(str)
        raw[self.rid] = raw[self.rid].astype(str)
        # the record's DAG is on every row of REDCap's export; take the first one given
        dag_of = (raw[raw[_DAG] != ""].drop_duplicates(self.rid)
                  .set_index(self.rid)[_DAG].to_dict())
        raw[_DAG] = raw[self.rid].map(dag_of).fillna("")
        if scope.dag:
            raw = raw[raw[_DAG] == scope.dag]
        # a record-event that only has repeating rows still "exists" in the event
        base = raw[raw[_INSTR] == ""]
        have = set(zip(base[self.rid], base[_EVENT], strict=True))
        orphans = (raw[raw[_INSTR] != ""][[self.rid, _EVENT, _DAG]]
                   .drop_duplicates([self.rid, _EVENT]))
        orphans = orphans[[(r, e) not in have for r, e in
                           zip(orphans[self.rid], orphans[_EVENT], strict=True)]]
        if len(orphans):
            raw = pd.concat([raw, orphans.assign(**{_INSTR: "", _INST: ""})],
                            ignore_index=True).fillna("")
        raw = raw.reset_index(drop=True)
        base = raw[raw[_INSTR] == ""]
        keys = [self.rid, _EVENT]
        columns = [c for c in raw.columns if c not in (*keys, *_KEYS)]
        reps = raw[raw[_INSTR] != ""]
        filled = fill_from_base(reps, base, keys, columns) if len(reps) else reps
        table = raw.copy()
        if len(reps):
            table.loc[filled.index, columns] = filled[columns]
        self.raw = raw
        self.table = table
        #: where each row is: record, event, repeat instrument and instance, DAG
        self.keys = raw[[self.rid, *_KEYS]]
        self.classic = not project.form_events
        self.forms_by_event = {e: list(fs) for e, fs in project.form_events.items()}

    def form_index(self, form: str) -> pd.Index:
        """The rows that are cells of ``form``."""
        raw = self.raw
        if self.classic:
            events = {""}
        else:
            events = {e for e, fs in self.forms_by_event.items() if form in fs}
        on_event = raw[_EVENT].isin(events) if not self.classic else pd.Series(
            True, index=raw.index)
        repeating = raw[_EVENT].map(lambda e: (e if not self.classic else "", form)
                                    in self.project.repeating)
        mine = on_event & ((repeating & (raw[_INSTR] == form))
                           | (~repeating & (raw[_INSTR] == "")))
        return raw.index[mine.to_numpy()]


# ----------------------------------------------------------------------------- values
def _checkbox_columns(f: DictField, table: pd.DataFrame) -> list[str]:
    return [c for c in f.export_columns() if c in table.columns]


def _blank(f: DictField, rows: pd.DataFrame, codes: MissingCodes) -> pd.Series:
    """True where ``f`` has no value: a checkbox with no option checked (nor a missing data
    code); anything else an empty cell."""
    if f.field_type == "checkbox":
        cols = _checkbox_columns(f, rows) + [c for c in missing_code_columns(f, codes)
                                             if c in rows.columns]
        if not cols:
            return pd.Series(True, index=rows.index)
        return pd.Series(~(rows[cols].to_numpy() == Checkbox.CHECKED).any(axis=1),
                         index=rows.index)
    if f.name not in rows.columns:
        return pd.Series(True, index=rows.index)
    return rows[f.name] == ""


def _value(f: DictField, rows: pd.DataFrame, codes: MissingCodes) -> pd.Series:
    """The field's value as REDCap lists it: a checkbox as its checked codes, comma-joined
    (a missing data code as the code)."""
    if f.field_type != "checkbox":
        return rows[f.name] if f.name in rows.columns else pd.Series("", index=rows.index)
    pairs = [(c, code) for code, c in zip(f.choices, f.export_columns(), strict=True)
             if c in rows.columns]
    pairs += [(c, code) for code, c in zip(codes.codes, missing_code_columns(f, codes),
                                           strict=False) if c in rows.columns]
    out = pd.Series("", index=rows.index, dtype=object)
    for col, code in pairs:
        on = (rows[col] == Checkbox.CHECKED).to_numpy()
        if on.any():
            prev = out[on]
            out[on] = prev.where(prev == "", prev + ",") + code
    return out


def _holds_code(f: DictField, rows: pd.DataFrame, codes: MissingCodes,
                record_id: str) -> pd.Series:
    """True where the field holds one of the project's missing data codes
    (``dictionary.missing``'s rules, applied to each distinct value)."""
    if not codes or not accepts_missing_codes(f, record_id):
        return pd.Series(False, index=rows.index)
    if f.field_type == "checkbox":
        cols = [c for c in missing_code_columns(f, codes) if c in rows.columns]
        if not cols:
            return pd.Series(False, index=rows.index)
        return pd.Series((rows[cols].to_numpy() == Checkbox.CHECKED).any(axis=1),
                         index=rows.index)
    if f.name not in rows.columns:
        return pd.Series(False, index=rows.index)
    col = rows[f.name]
    coded = [v for v in col.unique() if is_missing_code(v, codes, f)]
    return col.isin(coded)


# ----------------------------------------------------------------------------- rule C / D
_INT = r"[-+]?\d+"
_DEC = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)"
_COMMA = r"[-+]?(?:\d+(?:,\d+)?|,\d+)"
_YMD = r"\d{4}-\d{2}-\d{2}"
_HM = r"(?:[01]\d|2[0-3]):[0-5]\d"
#: REDCap's validation types (data dictionary names) and what a stored value must look
#: like. Dates are stored Y-M-D whatever their display order. A type not listed is not
#: checked (REDCap's admins can add their own types).
VALIDATION_PATTERNS: dict[str, str] = {
    "date_ymd": _YMD, "date_mdy": _YMD, "date_dmy": _YMD,
    "datetime_ymd": f"{_YMD} {_HM}", "datetime_mdy": f"{_YMD} {_HM}",
    "datetime_dmy": f"{_YMD} {_HM}",
    "datetime_seconds_ymd": f"{_YMD} {_HM}:[0-5]\\d",
    "datetime_seconds_mdy": f"{_YMD} {_HM}:[0-5]\\d",
    "datetime_seconds_dmy": f"{_YMD} {_HM}:[0-5]\\d",
    "time": _HM, "time_hh_mm_ss": f"{_HM}:[0-5]\\d", "time_mm_ss": r"[0-5]\d:[0-5]\d",
    "integer": _INT, "number": _DEC,
    "number_1dp": r"[-+]?\d+\.\d", "number_2dp": r"[-+]?\d+\.\d{2}",
    "number_3dp": r"[-+]?\d+\.\d{3}", "number_4dp": r"[-+]?\d+\.\d{4}",
    "number_comma_decimal": _COMMA,
    "number_1dp_comma_decimal": r"[-+]?\d+,\d", "number_2dp_comma_decimal": r"[-+]?\d+,\d{2}",
    "number_3dp_comma_decimal": r"[-+]?\d+,\d{3}", "number_4dp_comma_decimal": r"[-+]?\d+,\d{4}",
    "email": r"[^\s@]+@[^\s@]+\.[^\s@]{2,}",
    "alpha_only": r"[A-Za-z]+",
    "zipcode": r"\d{5}(?:-\d{4})?",
    "phone": r"\(?[2-9]\d{2}\)?[\s.-]*[2-9]\d{2}[\s.-]*\d{4}(?:\s*(?:#|x\.?|ext\.?)\s*\d+)?",
    "phone_australia": r"\(?0[2-9]\)?[\s-]?\d{4}[\s-]?\d{4}|04\d{2}[\s-]?\d{3}[\s-]?\d{3}",
    "phone_uk": r"(?:\+44\s?|0)(?:\d\s?){9,10}",
    "ssn": r"\d{3}-\d{2}-\d{4}",
    "mrn_10d": r"\d{10}", "mrn_generic": r"[A-Za-z0-9-]{1,20}",
    "vmrn": r"[1-9]\d{3,8}",
    "postalcode_australia": r"\d{4}", "postalcode_canada": r"[A-Za-z]\d[A-Za-z]\s?\d[A-Za-z]\d",
    "postalcode_french": r"\d{5}", "postalcode_germany": r"\d{5}",
}
_COMPILED = {k: re.compile(f"^(?:{v})$") for k, v in VALIDATION_PATTERNS.items()}


def _valid(value: str, vtype: str) -> bool:
    rx = _COMPILED.get(vtype)
    if rx is None or rx.match(value) is None:
        return rx is None
    if vtype.startswith("date"):
        try:
            datetime.strptime(value[:10], "%Y-%m-%d")
        except ValueError:
            return False
    return True


def _comparable(value: str, vtype: str) -> float | str | None:
    """A value or a min/max of type ``vtype`` as something ordered (float for numbers,
    ISO text for dates and times); None when it is not one."""
    v = value.strip()
    if not v:
        return None
    if vtype in ("integer", "number") or vtype.startswith("number"):
        try:
            x = float(v.replace(",", ".") if "comma" in vtype else v)
        except ValueError:
            return None
        return x if math.isfinite(x) else None
    if vtype.startswith(("date", "time")):
        return v
    return None


def _bound(text: str, vtype: str, today: date, now: datetime) -> float | str | None:
    t = (text or "").strip()
    if t.lower() == "today":
        return today.isoformat() if vtype.startswith("date") else None
    if t.lower() == "now":
        if vtype.startswith("datetime"):
            return now.strftime("%Y-%m-%d %H:%M:%S")
        return now.strftime("%H:%M:%S") if vtype.startswith("time") else None
    return _comparable(t, vtype)


# ----------------------------------------------------------------------------- logic
@lru_cache(maxsize=2048)
def _parsed(text: str):  # type: ignore[no-untyped-def]
    from sgbm_redcap.logic import parse

    return parse(text)


def _tag_argument(annotation: str, tag: str) -> str | None:
    """The parenthesised argument of an action tag (``@CALCTEXT(...)``), brackets balanced
    and quotes respected; None when the tag is absent."""
    m = re.search(re.escape(tag) + r"\s*\(", annotation, flags=re.IGNORECASE)
    if m is None:
        return None
    depth, quote, start = 1, "", m.end()
    for i in range(start, len(annotation)):
        ch = annotation[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return annotation[start:i]
    return None


def _equation(f: DictField) -> tuple[str, str] | None:
    """(equation, kind) of a calculated field: a calc field's equation ('number'), or the
    argument of ``@CALCTEXT`` ('text') / ``@CALCDATE`` ('date')."""
    if f.field_type == "calc":
        return (f.calculation.strip(), "number") if f.calculation.strip() else None
    if f.field_type in ("text", "notes"):
        for tag, kind in (("@CALCTEXT", "text"), ("@CALCDATE", "date")):
            arg = _tag_argument(f.annotation, tag)
            if arg is not None and arg.strip():
                return (arg if kind == "text" else f"calcdate({arg})"), kind
    return None


# ----------------------------------------------------------------------------- the run
class _Run:
    def __init__(self, project: DqProject, scope: DqScope, today: date, now: datetime):
        from sgbm_redcap.logic import Evaluator

        self.p = project
        self.d = project.dictionary
        self.scope = scope
        self.codes = project.missing_codes
        self.cells = _Cells(project, scope)
        self.today, self.now = today, now
        self.ev = Evaluator(self.cells.table, today=today, now=now, dictionary=self.d,
                            missing_codes=self.codes.codes,
                            smart_values=self._smart_values(), record_id=self.cells.rid)
        self._shown: dict[str, pd.Series] = {}
        self._form_rows: dict[str, pd.DataFrame] = {}
        self._blanks: dict[str, pd.Series] = {}
        self._coded: dict[str, pd.Series] = {}

    def blank(self, f: DictField, rows: pd.DataFrame) -> pd.Series:
        if f.name not in self._blanks:
            self._blanks[f.name] = _blank(f, rows, self.codes)
        return self._blanks[f.name]

    def coded(self, f: DictField, rows: pd.DataFrame) -> pd.Series:
        if f.name not in self._coded:
            self._coded[f.name] = _holds_code(f, rows, self.codes, self.cells.rid)
        return self._coded[f.name]

    def _smart_values(self) -> dict[str, str]:
        s = self.scope
        return {"user-name": s.user, "user-dag-name": s.dag}

    def fields(self) -> list[DictField]:
        return [f for f in self.d.fields
                if f.field_type != "descriptive" and f.name != self.cells.rid]

    def rows(self, form: str) -> pd.DataFrame:
        if form not in self._form_rows:
            self._form_rows[form] = self.cells.table.loc[self.cells.form_index(form)]
        return self._form_rows[form]

    def visible(self, f: DictField, rows: pd.DataFrame) -> pd.Series:
        """True where the branching logic of ``f`` shows it (no logic, or logic we cannot
        evaluate: shown)."""
        logic = (f.branching_logic or "").strip()
        if not logic:
            return pd.Series(True, index=rows.index)
        if f.name not in self._shown:
            try:
                shown = self.ev.evaluate(_parsed(logic), as_="bool")
                self._shown[f.name] = pd.Series(np.asarray(shown, dtype=bool),
                                                index=self.cells.table.index)
            except LogicError:
                self._shown[f.name] = pd.Series(True, index=self.cells.table.index)
        return self._shown[f.name].loc[rows.index]

    def viewable(self, f: DictField) -> bool:
        forms = self.scope.forms
        return forms is None or f.form in forms

    # -- the rules -------------------------------------------------------------------
    def predefined(self, letter: str) -> list[pd.DataFrame]:
        out = []
        numeric: list[tuple[DictField, pd.DataFrame, pd.Series]] = []
        for f in self.fields():
            rows = self.rows(f.form)
            if rows.empty:
                continue
            hit = self._hit(letter, f, rows, numeric)
            if hit is None or not hit.any():
                continue
            out.append(self._listing(letter, f, rows[hit.to_numpy()]))
        if letter == "E":
            for f, rows, x in numeric:
                values = x.dropna().tolist()
                if len(values) < 2:
                    continue
                sd = float(np.std(values, ddof=1))
                if not sd:
                    continue
                far = (x - float(np.mean(values))).abs() > OUTLIER_SD * sd
                if far.any():
                    out.append(self._listing("E", f, rows[far.to_numpy()]))
        return out

    def _hit(self, letter: str, f: DictField, rows: pd.DataFrame,
             numeric: list[tuple[DictField, pd.DataFrame, pd.Series]]) -> pd.Series | None:
        vtype = f.validation_type
        if letter in ("A", "B"):
            if not self.viewable(f) or (letter == "B" and not f.required):
                return None
            if "@HIDDEN" in f.action_tags:
                return None
            return (self.blank(f, rows) & ~self.coded(f, rows)
                    & self.visible(f, rows))
        if letter == "F":
            if not (f.branching_logic or "").strip():
                return None
            return ~self.blank(f, rows) & ~self.visible(f, rows)
        if letter == "I":
            return self.coded(f, rows)
        if letter == "H":
            return self._calc_wrong(f, rows)
        if f.field_type == "checkbox" or f.name not in rows.columns:
            return None
        v = rows[f.name]
        coded = self.coded(f, rows)
        filled = (v != "") & ~coded
        if letter == "G":
            if f.field_type not in ("radio", "dropdown", "yesno", "truefalse"):
                return None
            return filled & ~v.isin(list(f.choices))
        if f.field_type == "text" and vtype in VALIDATION_PATTERNS:
            valid = v.map(lambda s: _valid(s, vtype))
        else:
            valid = pd.Series(True, index=rows.index)
        if letter == "C":
            if f.field_type != "text" or vtype not in VALIDATION_PATTERNS:
                return None
            return filled & ~valid
        if letter == "D":
            if f.field_type != "text" or not (f.validation_min.strip()
                                              or f.validation_max.strip()):
                return None
            lo = _bound(f.validation_min, vtype, self.today, self.now)
            hi = _bound(f.validation_max, vtype, self.today, self.now)
            if lo is None and hi is None:
                return None

            def out_of_range(s: str) -> bool:
                x = _comparable(s, vtype)
                if x is None:
                    return False
                return bool((lo is not None and type(lo) is type(x) and x < lo)
                            or (hi is not None and type(hi) is type(x) and x > hi))

            return filled & valid & v.map(out_of_range)
        if letter == "E":
            kind = (f.field_type in ("slider", "calc")
                    or (f.field_type == "text" and vtype in OUTLIER_VALIDATIONS))
            if kind:
                numeric.append((f, rows, pd.to_numeric(v.where(filled & valid, ""),
                                                       errors="coerce")))
            return None
        return None

    def _calc_wrong(self, f: DictField, rows: pd.DataFrame) -> pd.Series | None:
        eq = _equation(f)
        if eq is None:
            return None
        text, kind = eq
        try:
            computed = self.ev.evaluate(_parsed(text), as_="number" if kind == "number"
                                        else "text")
        except LogicError:
            return None
        got = pd.Series(np.asarray(computed, dtype=object), index=self.cells.table.index
                        ).loc[rows.index]
        stored = rows[f.name] if f.name in rows.columns else pd.Series("", index=rows.index)
        if kind == "number":
            want = pd.to_numeric(got, errors="coerce")
            have = pd.to_numeric(stored, errors="coerce")
            both = want.notna() & have.notna()
            differ = both & ((want - have).abs() > 1e-9 * np.maximum(1.0, want.abs()))
            differ |= want.notna() & (stored == "")
            differ |= want.isna() & (stored != "")
            differ |= want.notna() & (stored != "") & have.isna()
            return differ
        want_text = got.fillna("").astype(str)
        return want_text != stored

    def _listing(self, rule: str, f: DictField | None, rows: pd.DataFrame) -> pd.DataFrame:
        if f is not None:
            value = _value(f, rows, self.codes)
            if not self.viewable(f):
                value = pd.Series(NO_RIGHTS_VALUE, index=rows.index)
        else:
            value = pd.Series("", index=rows.index)
        raw = self.cells.keys.loc[rows.index]
        return pd.DataFrame({
            "rule": rule, "record": raw[self.cells.rid].to_numpy(),
            _EVENT: raw[_EVENT].to_numpy(), _INSTR: raw[_INSTR].to_numpy(),
            _INST: raw[_INST].to_numpy(), "field": f.name if f is not None else "",
            "value": value.to_numpy(), "status": STATUS.get(rule, "Discrepancy"),
            "dag": raw[_DAG].to_numpy()})

    def custom(self, rule: CustomRule) -> tuple[list[pd.DataFrame], str]:
        """The rows where the rule's logic is true, or an error message."""
        try:
            tree = _parsed(rule.logic)
            refs = references(tree)
        except LogicError as exc:
            return [], f"the logic does not parse: {exc}"
        if self.scope.forms is not None:
            hidden = sorted({name for name in refs.fields
                             if name in self.d and self.d.field(name).form
                             not in self.scope.forms})
            if hidden:
                return [], ("the user may not view the field(s) " + ", ".join(hidden))
        try:
            true = self.ev.evaluate(tree, as_="bool")
        except LogicError as exc:
            return [], str(exc)
        hit = np.asarray(true, dtype=bool)
        rows = self.cells.table[hit]
        listing = self._listing(rule.rule, None, rows)
        # REDCap lists a custom rule's discrepant fields with their values
        shown = [n for n in dict.fromkeys(refs.fields) if n in rows.columns]
        if shown and len(rows):
            listing["value"] = [", ".join(f"{n} = {v}" for n, v in zip(shown, vals,
                                                                       strict=True))
                                for vals in rows[shown].itertuples(index=False, name=None)]
        return [listing], ""


def run_redcap_dq(project: DqProject, *, rules: Iterable[str] | None = None,
                  scope: DqScope | None = None, exclusions: Iterable[Exclusion] = (),
                  today: date | None = None, now: datetime | None = None) -> DqResult:
    """REDCap's Data Quality rules over ``project``: ``rules`` selects letters ``A``–``I``
    and custom rule numbers (``"1"``), or ``"custom"`` for every custom rule (default: all,
    REDCap's "All" button). ``scope`` is the user's view (DAG, instruments);
    ``exclusions`` are not counted. ``today``/``now`` fix the clock for ``'today'`` in
    ranges and logic (default: the clock)."""
    now = now or datetime.now()
    today = today or now.date()
    scope = scope or DqScope()
    wanted = _selection(project, rules)
    run = _Run(project, scope, today, now)
    names = dict(PREDEFINED)
    excluded = {e.key for e in exclusions}
    summary: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    for rule in wanted:
        if rule in names:
            found, error, name, logic = run.predefined(rule), "", names[rule], "-"
        else:
            custom = next(c for c in project.custom_rules if c.rule == rule)
            (found, error), name, logic = run.custom(custom), custom.name, custom.logic
        part = (pd.concat(found, ignore_index=True) if found
                else pd.DataFrame(columns=DQ_COLUMNS[:-1]))
        part = part.drop_duplicates([c for c in DQ_COLUMNS[:-3]])
        part["excluded"] = [
            (r, str(rec), ev, ins, str(inst), fld) in excluded
            for r, rec, ev, ins, inst, fld in zip(
                part["rule"], part["record"], part[_EVENT], part[_INSTR], part[_INST],
                part["field"], strict=True)]
        n_excl = int(part["excluded"].sum())
        summary.append({"rule": rule, "name": name, "logic": logic,
                        "discrepancies": None if error else len(part) - n_excl,
                        "excluded": n_excl, "error": error})
        frames.append(part)
    frames = [f for f in frames if len(f)]
    disc = (pd.concat(frames, ignore_index=True) if frames
            else pd.DataFrame(columns=DQ_COLUMNS))
    disc["excluded"] = disc["excluded"].astype(bool)
    table = pd.DataFrame(summary, columns=SUMMARY_COLUMNS)
    table["discrepancies"] = pd.Series([s["discrepancies"] for s in summary], dtype=object)
    return DqResult(table, disc[DQ_COLUMNS].reset_index(drop=True))


def _selection(project: DqProject, rules: Iterable[str] | None) -> list[str]:
    customs = [c.rule for c in project.custom_rules]
    if rules is None:
        return [*LETTERS, *customs]
    out: list[str] = []
    for r in rules:
        key = r.strip()
        if key.lower() == "custom":
            out += customs
        elif key.upper() in LETTERS:
            out.append(key.upper())
        elif key in customs:
            out.append(key)
        else:
            raise ValueError(f"no Data Quality rule {r!r}: use A to I, a custom rule number "
                             f"({', '.join(customs) or 'this project has none'}) or 'custom'")
    return list(dict.fromkeys(out))


def summary_text(result: DqResult) -> str:
    """REDCap's table as text: rule #, rule name, total discrepancies."""
    rows = [("Rule #", "Rule Name", "Total Discrepancies")]
    for r in result.summary.itertuples(index=False):
        count = "ERROR" if r.error else str(r.discrepancies)
        rows.append((r.rule, r.name, count))
    w0 = max(len(a) for a, _, _ in rows)
    w1 = max(len(b) for _, b, _ in rows)
    return "\n".join(f"{a:<{w0}}  {b:<{w1}}  {c:>5}" for a, b, c in rows) + "\n"


def read_text(path: str | Path) -> str:
    return Path(path).read_text(encoding="utf-8-sig")


#: docs/checks.md's page on this mode (``registry.render_markdown`` appends it).
MARKDOWN = """
## REDCap's Data Quality rules (`sgbm-redcap checks redcap-dq`)

The rules above are the study's sweep: tuned so that every finding is worth a query to a
site. `sgbm-redcap checks redcap-dq` is the other view: the table of REDCap's own *Data
Quality* page (rule, rule name as REDCap words it, total discrepancies), computed as REDCap
defines its rules, so that a data manager can hold the two side by side. It reads the
project through the API (metadata, every record row with its DAG, the form-event mapping,
repeating instruments and events, the project's missing data codes) and writes nothing.

    sgbm-redcap checks redcap-dq --url https://redcap.example.org/api/   # token: SGBM_REDCAP_TOKEN
    sgbm-redcap checks redcap-dq --sandbox --rule B --rule H --csv dq.csv
    sgbm-redcap checks redcap-dq --url ... --rules-file rules.csv --exclusions excluded.csv --user alice

`--rule` picks rules (`A`..`I`, a custom rule number, `custom`; default all, REDCap's "All"
button). REDCap's API cannot export Data Quality rules, so custom rules come from
`--rules-file`: REDCap's "Download Data Quality Rules (CSV)" file (`rule_name`,
`rule_logic`, `real_time_execute`) or a Project XML (its `DataQualityRules`). `--csv`/`--json`
list the discrepancies (`rule, record, redcap_event_name, redcap_repeat_instrument,
redcap_repeat_instance, field, value, status, dag, excluded`); exit code 1 when a rule finds
a discrepancy that is not excluded (or cannot run), 0 when none, 2 for bad input (an export
file instead of a REDCap, an unknown rule, an unreadable rules file).

### What is checked

Every record-event the record has data in (each instance of a repeating event), and on it
every form designated for that event (every form in a classic project); a repeating
instrument once per existing instance. So all events, arms and instances are checked and
every discrepancy says where it is. A repeating instrument's instance sees the event's
non-repeating values (branching logic, equations and rule logic are evaluated on that row).
Custom rules are evaluated on every row of the export (each record-event row and each
repeating instance), as REDCap lists them: `[event][field]` reaches another event of the
record, `[field][N]` an instance.

### The rules

Definitions are REDCap's, as its Data Quality page and the user guides of REDCap consortium
sites word them (CCTS BSC "Data Quality Module"; UW–Madison KB 159530); what they leave open
is decided as written here.

| rule | REDCap's name | a discrepancy is |
|---|---|---|
| A | Blank values* | a field with no value that its branching logic shows. Not a field hidden by branching logic or by `@HIDDEN`; not one holding a missing data code (that is rule I); a checkbox with no option (nor a missing-code option) checked; descriptive fields and the record id never. Calc and file fields count. |
| B | Blank values* (required fields only) | rule A for fields marked Required. |
| C | Field validation errors (incorrect data type) | a text value that is not of its validation type (dates and datetimes as REDCap stores them, Y-M-D; `2024-02-30` is invalid; comma-decimal numbers `2,5`; e-mail, phone, postal codes, MRN, SSN, letters only...). A missing data code is not a validation error, except in a field that takes no codes (its annotation opts out; `dictionary.missing.accepts_missing_codes`). Validation types this toolkit does not know (site-defined) are not checked. |
| D | Field validation errors (out of range) | a valid value below its minimum or above its maximum: numbers (a comma-decimal type's `0,0`–`3,0` read as 0.0–3.0), dates, datetimes and times; `today`/`now` as limits. |
| E | Outliers for numerical fields (numbers, integers, sliders, calc fields)** | a value more than 2 standard deviations (the sample SD, n − 1) from the mean of the field over the cells checked; fields of validation `integer` or `number`, sliders and calc fields. Decimal-place and comma-decimal number types are other validation types in REDCap's list and are not "numbers, integers" here (Project418 below is the evidence). |
| F | Hidden fields that contain values*** | a field hidden by its branching logic that holds a value. |
| G | Multiple choice fields with invalid values | a radio, dropdown, yes/no or true/false value that is not one of its codes (a missing data code is not invalid). |
| H | Incorrect values for calculated fields | a calc field (and `@CALCTEXT`, `@CALCDATE`) whose stored value differs from what its equation gives on the current data, **a blank stored value included**, or a value stored where the equation gives blank. Equations that read `'today'` are evaluated on the day of the run, as REDCap does. |
| I | Fields containing "missing data codes" | a field holding one of the project's missing data codes (project info `missing_data_codes`, read by `dictionary.missing`); a checkbox's code column checked counts; in a field that takes no codes a value is never one. |

Scoping (`--user`): REDCap runs the rules with the user's rights. Only records of the user's
DAG are checked, and `[user-dag-name]` in a custom rule is the user's unique DAG name (REDCap
validation feature C.4.18.1300: `([ptname]<>[name]) AND ([user-dag-name]='testgroup1')`
gives 2 to a TestGroup1 user, 0 to a TestGroup2 user, on Project418). Rules A and B skip
fields on instruments the user may not view; the other pre-defined rules still count them
and show `[cannot display data]` for the value; a custom rule that reads such a field is an
ERROR (feature C.4.18.1400). Exclusions (`--exclusions`, REDCap's "exclude" link) are listed
with `excluded` true and not counted.

### Where the study's rules depart from REDCap's

| REDCap | study sweep | why |
|---|---|---|
| A | none | every blank optional field would become a site query; completeness is reported instead. |
| B | `DQ-B`, only on forms that hold data | an empty follow-up form is not yet due: REDCap counts it once the record has data in the event. |
| C, D, F, G | `DQ-C`, `DQ-D`, `DQ-F`, `DQ-G` | same definitions; `DQ-D` takes `today` as the data cut-off. |
| E | `DQ-E`: 6 robust SDs (1.4826 × MAD) from the median, at least 20 values, fields with both limits left to `DQ-D` | REDCap's 2 SD flags about 5% of correct values of every numeric field (compare `checks redcap-dq --sandbox --rule E` with `checks run --sandbox` on the synthetic study), and one wild value inflates the SD that judges it. |
| H | `DQ-H`: a blank stored calc is not queried; equations reading the clock are skipped | REDCap fills calc fields when a form is saved or data imported, which is not the site's doing; a `today` equation changes every day. |
| I | none | a missing data code is a valid answer; the reports count it by reason. In the sweep a code is a value (never blank for `DQ-B`) that `DQ-C` and `DQ-G` do not judge and `DQ-D`/`DQ-E` read as no number, in every field that takes codes (`CheckContext.coded`, `dictionary.missing`'s rule; `@NOMISSING` fields are judged as usual). |

The sweep checks the study project as it is: classic (`project.toml`: no events), so one row
per record plus the repeating instances. `checks redcap-dq` walks every event and instance of
any project.

### The reference: REDCap's validation project Project418.xml

REDCap's own validation suite creates a project from `Project418.xml` (in
`../shared/corpus/api_fixtures/206_…_Project418.xml`; features C.4.18.0300/0500/0600/0700/1400
of the suite for REDCap 14.7, `ucl-isd/redcap-clinical-trials-test-scripts` and
`vanderbilt-redcap/redcap_rsvc` v14.7.0) and clicks "All". `tests/test_redcap_dq_project418.py`
loads the same file into the sandbox by Project XML creation and runs this mode. The project:
10 records, arm 1 with `event_1_arm_1` (text_validation, consent; data_types a repeating
instrument), `event_2_arm_1` (a repeating event: text_validation, data_types), `event_three_arm_1`
(survey, consent); missing data code `NI`; custom rules `[radio]='9..9'` and `[ptname]<>[name]`.
The 16 data_types cells: record 1 on event 1 (#1) and event 2 (instances 1, 2), records 2 and 3
(#1–2), record 4 (#1–3), records 5–10 (#1). REDCap stores no calc values when it creates a
project from XML, so every calc is blank.

| rule | REDCap 14 | ours | how |
|---|---|---|---|
| A | 377 | 378 | data_types 336 (both calcs, `signature`, `file_upload` blank in all 16 cells = 64; every other blank shown field), consent 38 (records 2–10 have no consent data on event 1: 4 fields × 9, plus the blank signature on record 1's events 1 and three), text_validation 4 (`email` of records 3, 4, 8, 10; `name` is `@HIDDEN`). `branching` counts only where `[multiple_radio_auto] = '1'` shows it. One more than REDCap: no public definition says which cell REDCap leaves out; counting `@HIDDEN` fields would give 383, leaving out the blank calcs 346. |
| B | 2 | 2 | `required` is blank on record 1's event 2, instances 1 and 2 (the data_types form of a repeating event instance that holds text_validation data). |
| C | 1 | 1 | record 6 `email = HelloWorld`. Before the sandbox stored Project XML datetimes as REDCap does (`2023-07-31 14:49:07`, not ODM's `2023-07-31T14:49:07`), every datetime was a false C. |
| D | 4 | 4 | record 5 #1: `integer = 1111111111`, `number = 10.000`, `number_1_period = 4.2` (0–2, 0–2, 0.0–3.0) and `number_1_comma = 22222222,0` (`0,0`–`3,0`). `datetime_ymd_hm = 2023-08-01 01:02` is inside its range. |
| E | 2 | 2 | record 5 #1 `integer` and `number`: one value among seven, 2.27 SDs from the mean. `number_1_period` and `number_1_comma` have the same shape but are decimal-place types, not "numbers, integers" (REDCap's count of 2 agrees). |
| F | 1 | 1 | record 7 `branching = HelloWorld` with `multiple_radio_auto` blank. |
| G | 1 | 1 | record 8 `radio_button_manual = 1000` (codes `9..9`, 100, 101). |
| H | 26 | 32 | both calcs (`3*2`) blank in the 16 data_types cells. REDCap 14 shows 26, 13 cells × 2: no public definition says which 3 cells it leaves out (the three data_types forms marked Complete would be 3; so would counting calcs on the 13 record-event rows instead of the 16 cells); we count every cell rule A counts, by the documented definition. |
| I | 4 | 4 | `time_mmss = NI` in records 5–8. |
| 1 | 1 | 1 | record 10 #1 `radio = 9..9`. |
| 2 | 8 | 8 | rows where `[ptname] <> [name]`: record 1 event 2 instances 1, 2; the event-1 rows of records 2, 5, 6, 7, 9 (data_types repeats there, so `ptname` is blank on them); record 9 #1 (`NewName`). |
"""
