"""Generic rules driven by the data dictionary: REDCap's Data Quality rules B–H computed over
all records at once, respecting branching logic (a field hidden by its logic is never
"missing"; a hidden field that holds a value is flagged).

Rule A of REDCap (every blank value) is left out on purpose: blank optional fields are not
errors in this study, and the sites would drown in queries.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

import numpy as np
import pandas as pd

from sgbm_redcap.checks.context import CheckContext
from sgbm_redcap.checks.findings import hits
from sgbm_redcap.checks.registry import REGISTRY
from sgbm_redcap.errors import LogicError
from sgbm_redcap.logic.context import fill_from_base
from sgbm_redcap.logic.nodes import String
from sgbm_redcap.logic.refs import referenced_fields, references
from sgbm_redcap.study_codes import Checkbox, FormStatus

log = logging.getLogger(__name__)

#: Forms the generic rules never look at: the queries themselves.
SKIPPED_FORMS = frozenset({"data_queries"})
#: Robust z-score (median / 1.4826·MAD) beyond which a number is an outlier, and the fewest
#: values a field needs before outliers are looked for.
OUTLIER_Z = 6.0
OUTLIER_MIN_VALUES = 20
CHOICE_TYPES = ("radio", "dropdown", "yesno", "truefalse")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
VALIDATION_PATTERNS: dict[str, str] = {
    "date_ymd": r"\d{4}-\d{2}-\d{2}",
    "date_dmy": r"\d{4}-\d{2}-\d{2}",  # stored and exported as Y-M-D whatever the display
    "date_mdy": r"\d{4}-\d{2}-\d{2}",
    "datetime_ymd": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}",
    "datetime_dmy": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}",
    "datetime_mdy": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}",
    "datetime_seconds_ymd": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    "datetime_seconds_dmy": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    "datetime_seconds_mdy": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    "integer": r"[-+]?\d+",
    "number": _NUMBER,
    "number_1dp": r"[-+]?\d+(?:\.\d)?",
    "number_2dp": r"[-+]?\d+(?:\.\d{1,2})?",
    "number_3dp": r"[-+]?\d+(?:\.\d{1,3})?",
    "number_4dp": r"[-+]?\d+(?:\.\d{1,4})?",
    "time": r"(?:[01]\d|2[0-3]):[0-5]\d",
    "time_hh_mm_ss": r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d",
    "email": r"[^@\s]+@[^@\s]+\.[^@\s]+",
    "alpha_only": r"[A-Za-z]+",
    "zipcode": r"\d{5}(?:-\d{4})?",
    "phone": r"[\d\s().+-]{7,}",
}
_NUMERIC_TYPES = {"integer", "number", "number_1dp", "number_2dp", "number_3dp", "number_4dp"}


def _fields(ctx: CheckContext):
    return [f for f in ctx.dictionary.fields
            if f.form not in SKIPPED_FORMS and f.field_type != "descriptive"
            and f.name != ctx.record_id]


@lru_cache(maxsize=4096)
def _parsed(text: str):
    from sgbm_redcap.logic import parse

    return parse(text)


def _logic_table(ctx: CheckContext, form: str, logic_texts: list[str]) -> pd.DataFrame:
    """The rows of ``form`` with the non-repeating values the logic refers to filled in
    (``logic.context.fill_from_base``; the fields come from the parser's AST)."""
    rows = ctx.form_rows(form)
    if not ctx.is_repeating(form):
        return rows
    needed: set[str] = set()
    for text in logic_texts:
        try:
            needed.update(referenced_fields(_parsed(text)))
        except LogicError:
            continue  # not evaluated either (visible() treats the field as shown)
    columns: list[str] = []
    for name in needed:
        f = ctx.dictionary.get(name) if ctx.dictionary is not None else None
        columns += f.export_columns() if f is not None else [name]
    return fill_from_base(rows, ctx.base, ["record_id"], columns)


def _reads_the_clock(equation: str) -> bool:
    """True when the equation's value depends on the day it is computed: ``'today'`` or
    ``'now'`` as an argument, or a smart variable (``[survey-date-completed]`` ...). An
    equation that does not parse counts as such (it is not checked)."""
    try:
        tree = _parsed(equation)
    except LogicError:
        return True
    return bool(references(tree).smart_variables) or any(
        isinstance(node, String) and node.value.strip().lower() in ("today", "now")
        for node in tree.walk())


def visible(ctx: CheckContext, form: str) -> dict[str, pd.Series]:
    """Per field of ``form`` with branching logic: True where the field is shown."""
    key = f"visible:{form}"
    cache = ctx.cache
    if key in cache:
        return cache[key]
    from sgbm_redcap.logic import evaluate

    fields = [f for f in _fields(ctx) if f.form == form and (f.branching_logic or "").strip()]
    table = _logic_table(ctx, form, [f.branching_logic for f in fields])
    out = {}
    for f in fields:
        try:
            shown = evaluate(_parsed(f.branching_logic), table)
            out[f.name] = pd.Series(shown, index=table.index).fillna(False).astype(bool)
        except Exception:  # noqa: BLE001 - a logic the evaluator cannot do: treat as shown
            log.warning("branching logic of %s not evaluated; field treated as shown", f.name)
    cache[key] = out
    return out


def _shown(ctx: CheckContext, form: str, name: str, index: pd.Index) -> pd.Series:
    return visible(ctx, form).get(name, pd.Series(True, index=index))


def _value(ctx: CheckContext, f) -> pd.Series:
    """The field's value as text; a checkbox gives the checked codes, comma-joined."""
    if f.field_type != "checkbox":
        return ctx.text(f.form, f.name)
    key = f"checkbox:{f.form}:{f.name}"
    if key in ctx.cache:
        return ctx.cache[key]
    rows = ctx.form_rows(f.form)
    cols = [c for c in rows.columns if c.startswith(f.name + "___")]
    out = pd.Series("", index=rows.index, dtype=object)
    for c in cols:
        code = c.split("___", 1)[1]
        on = (ctx.text(f.form, c) == Checkbox.CHECKED).to_numpy()
        if on.any():
            prev = out[on]
            out[on] = prev.where(prev == "", prev + ",") + code
    ctx.cache[key] = out
    return out


def _blank(ctx: CheckContext, f) -> pd.Series:
    """True where the field has no value (a checkbox: no option checked)."""
    if f.field_type != "checkbox":
        return ctx.text(f.form, f.name) == ""
    rows = ctx.form_rows(f.form)
    cols = [c for c in rows.columns if c.startswith(f.name + "___")]
    if not cols:
        return pd.Series(True, index=rows.index)
    checked = (rows[cols].fillna("").astype(str).to_numpy() == Checkbox.CHECKED).any(axis=1)
    return pd.Series(~checked, index=rows.index)


def _started(ctx: CheckContext, form: str) -> pd.Series:
    """Rows where the form holds any data (or its status is not Incomplete). A checkbox
    counts only when an option is checked: REDCap exports unchecked options as '0'."""
    key = f"started:{form}"
    if key in ctx.cache:
        return ctx.cache[key]
    rows = ctx.form_rows(form)
    if ctx.is_repeating(form):
        out = pd.Series(True, index=rows.index)
    else:
        plain, boxes = [], []
        for f in ctx.dictionary.form_fields(form):
            if f.field_type in ("calc", "descriptive") or f.name == ctx.record_id:
                continue
            if f.field_type == "checkbox":
                boxes += [c for c in rows.columns if c.startswith(f.name + "___")]
            elif f.name in rows.columns:
                plain.append(f.name)
        any_data = np.zeros(len(rows), dtype=bool)
        if plain:
            vals = rows[plain].fillna("").astype(str).to_numpy()
            any_data |= (vals != "").any(axis=1)
        if boxes:
            any_data |= (rows[boxes].fillna("").astype(str).to_numpy()
                         == Checkbox.CHECKED).any(axis=1)
        status = ctx.text(form, f"{form}_complete")
        out = pd.Series(any_data, index=rows.index) | status.isin(
            [FormStatus.UNVERIFIED, FormStatus.COMPLETE])
    ctx.cache[key] = out
    return out


def _per_field(ctx: CheckContext, fields, bad_of) -> pd.DataFrame:
    frames = []
    for f in fields:
        rows = ctx.form_rows(f.form)
        if f.field_type != "checkbox" and f.name not in rows.columns:
            continue
        result = bad_of(f, rows)
        if result is None:
            continue
        bad, extra = result if isinstance(result, tuple) else (result, {})
        if not _truthy(bad).any():
            continue
        h = hits(rows, bad, field=f.name, value=_value(ctx, f), label=_label(f), **extra)
        h["form"] = f.form
        frames.append(h)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _truthy(s: pd.Series) -> np.ndarray:
    """True where ``s`` is True (NaN/None count as False), as a bool array."""
    return np.equal(s.to_numpy(dtype=object), True)


def _label(f) -> str:
    text = re.sub(r"<[^>]+>", "", f.label or f.name).strip()
    return text if len(text) <= 80 else text[:77] + "..."


@REGISTRY.rule("DQ-B", title="Required field blank", severity="error",
               needs_dictionary=True, category="dictionary",
               form="*", field="*",
               message="'{label}' is required and blank. Please enter it, or mark it as not "
                       "available in the source documents.")
def missing_required(ctx: CheckContext) -> pd.DataFrame:
    """REDCap rule B: a field marked Required is blank although its branching logic shows it.
    Only forms that hold data are checked (an empty follow-up form is not yet due)."""
    if ctx.dictionary is None:
        return pd.DataFrame()

    def bad(f, rows):
        if not f.required or f.field_type == "calc":
            return None
        return _blank(ctx, f) & _shown(ctx, f.form, f.name, rows.index) & _started(
            ctx, f.form)

    return _per_field(ctx, _fields(ctx), bad)


@REGISTRY.rule("DQ-C", title="Value does not fit its validation", severity="error",
               needs_dictionary=True, category="dictionary", form="*", field="*",
               message="'{label}' holds '{value}', which is not a valid {expected}. Please "
                       "correct the value.")
def invalid_format(ctx: CheckContext) -> pd.DataFrame:
    """REDCap rule C: a text value that does not match its validation type (date, integer,
    number, time, e-mail...). Impossible dates such as 2024-02-30 are invalid too."""
    if ctx.dictionary is None:
        return pd.DataFrame()

    def bad(f, rows):
        pattern = VALIDATION_PATTERNS.get(f.validation or "")
        if f.field_type != "text" or pattern is None:
            return None
        v = ctx.text(f.form, f.name)
        filled = (v != "") & ~ctx.coded(f.form, f.name)  # a missing data code is valid
        wrong = np.zeros(len(v), dtype=bool)
        mask = filled.to_numpy()
        if mask.any():
            wrong[mask] = ~_truthy(v[filled].str.fullmatch(pattern))
        wrong = pd.Series(wrong, index=v.index)
        if f.validation in ("date_ymd", "date_dmy", "date_mdy"):
            wrong |= filled & ~wrong & ctx.date(f.form, f.name).isna()
        return wrong, {"expected": (f.validation or "").replace("_", " ")}

    return _per_field(ctx, _fields(ctx), bad)


def _bound(text: str | None, kind: str, cutoff: pd.Timestamp):
    t = (text or "").strip()
    if not t:
        return None
    if t.lower() in ("today", "now"):
        return cutoff if kind == "date" else None
    if kind == "date":
        d = pd.to_datetime(t[:10], format="%Y-%m-%d", errors="coerce")
        return None if pd.isna(d) else d
    try:
        return float(t)
    except ValueError:
        pass
    try:  # a comma-decimal type's limits are written 0,0 and 3,0
        return float(t.replace(",", ".")) if t.count(",") == 1 and "." not in t else None
    except ValueError:
        return None


def _typed(ctx: CheckContext, f) -> tuple[pd.Series, str] | None:
    v = f.validation or ""
    if v.endswith("comma_decimal"):  # number_comma_decimal, number_1dp_comma_decimal, ...
        text = ctx.text(f.form, f.name).str.replace(",", ".", regex=False)
        return pd.to_numeric(text, errors="coerce"), "number"
    if v in ("date_ymd", "date_dmy", "date_mdy"):
        return ctx.date(f.form, f.name), "date"
    if v.startswith("date"):
        return pd.to_datetime(ctx.text(f.form, f.name).str[:10], format="%Y-%m-%d",
                              errors="coerce"), "date"
    if v in _NUMERIC_TYPES or (f.field_type == "slider"):
        return ctx.number(f.form, f.name), "number"
    return None


@REGISTRY.rule("DQ-D", title="Value out of range", severity="error",
               needs_dictionary=True, category="dictionary",
               form="*", field="*",
               message="'{label}' is {value}, outside the expected range {low} to {high}. "
                       "Please check the value.")
def out_of_range(ctx: CheckContext) -> pd.DataFrame:
    """REDCap rule D: a number or date outside the minimum/maximum of its validation
    (comma-decimal numbers and limits, 2,5 and 0,0–3,0, read as 2.5 and 0.0–3.0)."""
    if ctx.dictionary is None:
        return pd.DataFrame()

    def bad(f, rows):
        typed = _typed(ctx, f)
        if typed is None or not ((f.validation_min or "").strip() or
                                 (f.validation_max or "").strip()):
            return None
        values, kind = typed
        lo = _bound(f.validation_min, kind, ctx.cutoff)
        hi = _bound(f.validation_max, kind, ctx.cutoff)
        wrong = pd.Series(False, index=values.index)
        if lo is not None:
            wrong |= values < lo
        if hi is not None:
            wrong |= values > hi
        return wrong, {"low": f.validation_min or "-", "high": f.validation_max or "-"}

    return _per_field(ctx, _fields(ctx), bad)


@REGISTRY.rule("DQ-E", title="Numeric outlier", severity="warning",
               needs_dictionary=True, category="dictionary",
               form="*", field="*",
               message="'{label}' is {value}, far from the values of the other patients "
                       "(median {median}). Please confirm the value.")
def outliers(ctx: CheckContext) -> pd.DataFrame:
    """REDCap rule E, made robust: a number more than 6 robust standard deviations
    (1.4826 × median absolute deviation) from the median of the field over all records.
    REDCap's 2-SD rule would query 5% of correct values; fields with a validation range are
    left to DQ-D."""
    if ctx.dictionary is None:
        return pd.DataFrame()

    def bad(f, rows):
        v = f.validation or ""
        if f.field_type != "text" or v not in _NUMERIC_TYPES:
            return None
        if (f.validation_min or "").strip() and (f.validation_max or "").strip():
            return None
        x = ctx.number(f.form, f.name)
        if x.notna().sum() < OUTLIER_MIN_VALUES:
            return None
        med = x.median()
        mad = (x - med).abs().median() * 1.4826
        if not mad or np.isnan(mad):
            return None
        return ((x - med).abs() / mad > OUTLIER_Z), {"median": f"{med:g}"}

    return _per_field(ctx, _fields(ctx), bad)


@REGISTRY.rule("DQ-F", title="Hidden field holds a value", severity="warning",
               needs_dictionary=True, category="dictionary", form="*", field="*",
               message="'{label}' holds '{value}' although the answers on this form hide it. "
                       "Please check the answers that control it, or clear the value.")
def hidden_with_value(ctx: CheckContext) -> pd.DataFrame:
    """REDCap rule F: a field hidden by its branching logic holds a value (either the value
    or the answer that hides it is wrong)."""
    if ctx.dictionary is None:
        return pd.DataFrame()

    def bad(f, rows):
        if not (f.branching_logic or "").strip() or f.field_type == "calc":
            return None
        shown = visible(ctx, f.form).get(f.name)
        if shown is None:
            return None
        return ~_blank(ctx, f) & ~shown

    return _per_field(ctx, _fields(ctx), bad)


@REGISTRY.rule("DQ-G", title="Invalid choice code", severity="error",
               needs_dictionary=True, category="dictionary",
               form="*", field="*",
               message="'{label}' holds the code '{value}', which is not one of its choices. "
                       "Please select a valid answer.")
def invalid_choice(ctx: CheckContext) -> pd.DataFrame:
    """REDCap rule G: a radio, dropdown, yes/no or true/false field holds a code that is not
    among its choices."""
    if ctx.dictionary is None:
        return pd.DataFrame()

    def bad(f, rows):
        if f.field_type not in CHOICE_TYPES:
            return None
        codes = set(f.choices) or ({"0", "1"} if f.field_type in ("yesno", "truefalse")
                                   else set())
        v = ctx.text(f.form, f.name)
        return (v != "") & ~v.isin(codes) & ~ctx.coded(f.form, f.name)

    return _per_field(ctx, _fields(ctx), bad)


@REGISTRY.rule("DQ-H", title="Calculated field out of date", severity="warning",
               needs_dictionary=True, category="dictionary", form="*", field="*",
               message="The calculated field '{label}' holds {value} but its formula gives "
                       "{expected}. Please open and save the form so REDCap recalculates it.")
def calc_mismatch(ctx: CheckContext) -> pd.DataFrame:
    """REDCap rule H: the stored value of a calc field differs from the value its equation
    gives on the current data (tolerance 0.01), or a value is stored where the equation gives
    blank. A blank stored value is not queried: REDCap fills calc fields when the form is
    saved or data are imported, which is not the site's doing. Equations that use today's
    date are skipped: their value changes every day."""
    if ctx.dictionary is None:
        return pd.DataFrame()
    from sgbm_redcap.logic import evaluate

    def bad(f, rows):
        eq = (f.choices_raw or "").strip()
        if f.field_type != "calc" or not eq or _reads_the_clock(eq):
            return None
        try:
            table = _logic_table(ctx, f.form, [eq])
            computed = pd.to_numeric(pd.Series(evaluate(_parsed(eq), table),
                                               index=table.index), errors="coerce")
        except Exception:  # noqa: BLE001
            log.warning("equation of calc field %s not evaluated; not checked", f.name)
            return None
        stored = ctx.number(f.form, f.name)
        both = stored.notna() & computed.notna()
        differ = both & ((stored - computed).abs() > 0.01 + 1e-6 * computed.abs())
        differ |= stored.notna() & computed.isna()
        return differ, {"expected": computed.map(lambda x: "blank" if x != x else f"{x:g}")}

    return _per_field(ctx, _fields(ctx), bad)
