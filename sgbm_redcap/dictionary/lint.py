"""Lint a data dictionary the way REDCap's upload validator does (REDCAP_API.md §5.6),
plus good-practice warnings REDCap does not give.

Each ``Issue`` names the rule id, the CSV record (header = row 1), the column, the field,
what is wrong and how to fix it. Errors are what REDCap would refuse on upload; warnings are
what REDCap would silently rewrite, and practices that cause wrong or lost data later.
Branching and calc logic is parsed with ``sgbm_redcap.logic`` when that package provides
``parse``; otherwise a bracket/quote scan and a field-reference scan stand in.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from os import PathLike
from typing import Any

from sgbm_redcap.dictionary.load import load_dictionary
from sgbm_redcap.dictionary.missing import (
    NO_CODES,
    MissingCodes,
    accepts_missing_codes,
    choices_taken_as_codes,
    nomissing_without_effect,
    parse_missing_codes,
)
from sgbm_redcap.dictionary.model import (
    CHOICE_TYPES,
    FIELD_TYPE_ALIASES,
    UI_HEADER,
    VALIDATION_ALIASES,
    Dictionary,
    Field,
    parse_choice_items,
)
from sgbm_redcap.errors import DictionaryError
from sgbm_redcap.logic import check as logic_check
from sgbm_redcap.logic import parse as logic_parse
from sgbm_redcap.logic.refs import referenced_fields

log = logging.getLogger(__name__)

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title: str
    hint: str


_RULES: tuple[Rule, ...] = (
    # --- the loader
    Rule("load-failed", ERROR, "the file cannot be read as a data dictionary",
         "Save it from REDCap or Excel as CSV with REDCap's header row."),
    Rule("ragged-record", WARNING, "record has fewer cells than the header",
         "Check the row for a stray line break or delimiter."),
    # --- REDCap upload errors (§5.6)
    Rule("name-blank", ERROR, "blank variable name", "Give every row a variable name."),
    Rule("name-invalid", ERROR,
         "variable name starts with a digit or _, ends with _, or contains ___",
         "Use lower-case letters, digits and single underscores, starting with a letter."),
    Rule("name-too-long", ERROR, "variable name longer than 100 characters",
         "Shorten it (26 characters or fewer is recommended)."),
    Rule("name-duplicate", ERROR, "duplicate variable name", "Rename or delete one of them."),
    Rule("name-reserved", ERROR, "reserved variable name",
         "REDCap uses this name itself; choose another."),
    Rule("form-blank", ERROR, "blank form name", "Give every row a form name."),
    Rule("form-too-long", ERROR, "form name longer than 64 characters", "Shorten it."),
    Rule("form-not-contiguous", ERROR, "form rows are not contiguous",
         "Keep all rows of a form together (REDCap: forms must be sequential)."),
    Rule("type-invalid", ERROR, "invalid or blank field type",
         "Use one of text, notes, radio, dropdown, calc, file, checkbox, yesno, truefalse, "
         "descriptive, slider."),
    Rule("calc-empty", ERROR, "calc field without an equation",
         "Put the equation in the Choices, Calculations column."),
    Rule("calc-unbalanced", ERROR, "unbalanced (), [] or quotes in a calc equation",
         "Close every bracket and quote."),
    Rule("calc-unknown-field", ERROR, "calc equation uses a field that does not exist",
         "Fix the variable name or add the field."),
    Rule("calc-syntax", ERROR, "calc equation does not parse",
         "Check operators and function names against REDCap's list."),
    Rule("validation-on-non-text", ERROR, "validation type on a field that is not text",
         "Remove it (only text, slider, dropdown+autocomplete and file+signature take one)."),
    Rule("validation-unknown", ERROR, "unknown validation type",
         "Use one of REDCap's validation types, e.g. date_ymd, integer, number."),
    Rule("minmax-without-validation", ERROR, "min/max given without a validation type",
         "Add a validation type or remove min/max."),
    Rule("minmax-invalid", ERROR, "min/max does not fit the validation type",
         "Write it in the validation's format (dates as YYYY-MM-DD)."),
    Rule("slider-minmax", ERROR, "slider min/max not integers", "Use whole numbers."),
    Rule("choices-missing", ERROR, "multiple-choice field without choices",
         "Write choices as '1, Yes | 0, No'."),
    Rule("choices-duplicate-code", ERROR, "duplicate choice code", "Give each choice its own code."),
    Rule("choices-illegal-code", ERROR, "illegal choice code",
         "Codes are numbers or letters, digits, '.', '_' and '-' only."),
    Rule("branching-unbalanced", ERROR, "unbalanced (), [] or quotes in branching logic",
         "Close every bracket and quote."),
    Rule("branching-unknown-field", ERROR, "branching logic uses a field that does not exist",
         "Fix the variable name or add the field."),
    Rule("branching-syntax", ERROR, "branching logic does not parse",
         "Check operators and function names against REDCap's list."),
    Rule("matrix-name-invalid", ERROR, "matrix group name not [a-z0-9_] or over 60 characters",
         "Use lower-case letters, digits and underscores, at most 60 characters."),
    Rule("matrix-not-contiguous", ERROR, "matrix group rows are not contiguous",
         "Keep a matrix group's rows together."),
    Rule("matrix-mixed", ERROR, "matrix group mixes field types, choices or ranking",
         "All rows of a matrix group must be radio (or all checkbox) with identical choices "
         "and the same ranking flag."),
    # --- REDCap upload warnings (auto-fixed on upload)
    Rule("record-id-not-text", WARNING, "the record id field is not a text field",
         "REDCap forces the first field to text; make it text."),
    Rule("record-id-section-header", WARNING, "section header on the record id field",
         "REDCap clears it; move it to the next field."),
    Rule("name-long", WARNING, "variable name longer than 26 characters",
         "Shorter names survive exports to statistics packages."),
    Rule("name-autofix", WARNING, "upper case, spaces or illegal characters in a variable name",
         "REDCap rewrites it; write it lower-case with underscores yourself."),
    Rule("form-long", WARNING, "form name longer than 50 characters", "Shorten it."),
    Rule("form-autofix", WARNING, "upper case, spaces or illegal characters in a form name",
         "REDCap rewrites it; write it lower-case with underscores yourself."),
    Rule("type-legacy", WARNING, "legacy field type (textarea, select)",
         "Write notes / dropdown."),
    Rule("validation-legacy", WARNING, "legacy or upper-case validation name",
         "Write the current name (integer, number, date_ymd, ...)."),
    Rule("choices-format", WARNING, "choices without '|' or line breaks, or an item without a code",
         "Write choices as '1, Yes | 0, No'."),
    Rule("choices-stray-bar", WARNING, "leading, trailing or doubled '|' in choices",
         "Remove the empty choice."),
    Rule("flag-value", WARNING, "Identifier / Required / Matrix ranking value other than 'y'",
         "Write y or leave blank; REDCap clears anything else."),
    Rule("required-on-descriptive", WARNING, "descriptive field marked required",
         "REDCap clears it; remove the flag."),
    Rule("alignment-invalid", WARNING, "custom alignment not LV, LH, RV or RH",
         "Use LV, LH, RV, RH or leave blank."),
    # --- good practice
    Rule("required-never-shown", WARNING,
         "required field hidden by branching logic that can never be true",
         "Fix the branching logic or drop the Required flag."),
    Rule("branching-impossible-code", WARNING,
         "branching logic compares a field with a code it does not have",
         "Use one of the field's choice codes."),
    Rule("branching-self-reference", WARNING, "branching logic refers to the field itself",
         "A field cannot decide its own visibility; refer to another field."),
    Rule("choices-inconsistent", WARNING, "the same choices are coded differently in related fields",
         "Give the same label the same code everywhere (e.g. 1 = Yes, 0 = No)."),
    Rule("identifier-not-flagged", WARNING, "looks like a direct identifier but is not flagged",
         "Set Identifier? = y so that de-identified exports drop it."),
    Rule("action-tag-unknown", WARNING, "unknown action tag in the field annotation",
         "Check the spelling against REDCap's action tags."),
    Rule("logic-reference", WARNING,
         "logic names a checkbox option, smart variable, modifier or event that does not exist",
         "Check [field(code)] against the field's choices and the smart-variable spelling."),
    Rule("logic-repeating-ref", WARNING,
         "logic reads a field of another, repeating form without an instance",
         "Say which instance ([field][1], [field][last-instance]) or move the logic."),
    Rule("minmax-reversed", WARNING, "validation min is above max", "Swap them."),
    # --- missing data codes (project.toml [missing_data_codes]; docs/dictionary.md)
    Rule("missing-code-is-choice", ERROR,
         "a choice code is also one of the project's missing data codes",
         "Re-code the choice (or drop the missing data code): REDCap cannot tell them apart, "
         "and the pull would read the answer as missing."),
    Rule("nomissing-no-effect", WARNING,
         "@NOMISSING on a field that cannot hold a missing data code anyway",
         "Remove @NOMISSING: the record id, calc, @CALCTEXT/@CALCDATE and descriptive fields "
         "never take codes."),
)
RULES: dict[str, Rule] = {r.id: r for r in _RULES}

FIELD_TYPES = frozenset({"text", "notes", "radio", "dropdown", "calc", "file", "checkbox",
                         "yesno", "truefalse", "descriptive", "slider", "sql"})
VALIDATION_TYPES = frozenset("""
date_dmy date_mdy date_ymd datetime_dmy datetime_mdy datetime_ymd datetime_seconds_dmy
datetime_seconds_mdy datetime_seconds_ymd email integer number phone time zipcode
time_hh_mm_ss alpha_only mrn_10d mrn_generic vmrn number_1dp number_2dp number_3dp number_4dp
number_comma_decimal number_1dp_comma_decimal number_2dp_comma_decimal
number_3dp_comma_decimal number_4dp_comma_decimal phone_australia phone_uk phone_france
postalcode_australia postalcode_canada postalcode_germany postalcode_uk postalcode_french ssn
time_mm_ss""".split())
RESERVED_NAMES = frozenset("""
redcap_event_name redcap_csrf_token redcap_survey_timestamp redcap_survey_identifier
redcap_survey_return_code redcap_data_access_group hidden_edit_flag instance
redcap_repeat_instance redcap_repeat_instrument submit new return continue case switch class
enum catch throw document super focus elements action event_id target field_label""".split())
ACTION_TAGS = frozenset("""
@HIDDEN @HIDDEN-FORM @HIDDEN-SURVEY @HIDDEN-APP @HIDDEN-PDF @READONLY @READONLY-FORM
@READONLY-SURVEY @READONLY-APP @DEFAULT @SETVALUE @PREFILL @NOW @NOW-SERVER @NOW-UTC @TODAY
@TODAY-SERVER @TODAY-UTC @USERNAME @APPUSERNAME-APP @LATITUDE @LONGITUDE @CALCTEXT @CALCDATE
@CHARLIMIT @WORDLIMIT @PLACEHOLDER @PASSWORDMASK @RANDOMORDER @HIDECHOICE @SHOWCHOICE
@MAXCHOICE @MAXCHOICE-SURVEY-COMPLETE @MAXCHECKED @NONEOFTHEABOVE @NOMISSING @FORCE-MINMAX
@IF @INLINE @INLINE-PREVIEW @RICHTEXT @DOWNLOAD-COUNT @HIDEBUTTON @BARCODE-APP @SYNC-APP
@CONSENT-VERSION @SAVE-PROMPT-EXEMPT @SAVE-PROMPT-EXEMPT-WHEN-AUTOSET""".split())
ACTION_TAG_PREFIXES = ("@LANGUAGE-", "@MC-")

_NAME_OK = re.compile(r"^[a-z][a-z0-9_]*$")
_CODE_OK = re.compile(r"^(-?[0-9]+(\.[0-9]+)?|[a-zA-Z0-9._\-]+)$")
_MATRIX_OK = re.compile(r"^[a-z0-9_]{1,60}$")
_DATE_YMD = r"\d{4}-\d{1,2}-\d{1,2}"
_DATE_ANY = rf"({_DATE_YMD}|\d{{1,2}}[-/]\d{{1,2}}[-/]\d{{4}})"
_TIME = r"\d{1,2}:\d{2}"
_MINMAX_FORMAT: dict[str, re.Pattern[str]] = {
    "integer": re.compile(r"^[-+]?\d+$"),
    "number": re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$"),
    "number_comma_decimal": re.compile(r"^[-+]?\d+(,\d*)?$"),
    "time": re.compile(rf"^{_TIME}$"),
    "time_hh_mm_ss": re.compile(rf"^{_TIME}:\d{{2}}$"),
    "time_mm_ss": re.compile(r"^\d{1,2}:\d{2}$"),
}
for _v in ("date_ymd", "date_mdy", "date_dmy"):
    _MINMAX_FORMAT[_v] = re.compile(rf"^({_DATE_ANY}|today|now)$", re.I)
for _v in ("datetime_ymd", "datetime_mdy", "datetime_dmy"):
    _MINMAX_FORMAT[_v] = re.compile(rf"^({_DATE_ANY}( {_TIME})?|today|now)$", re.I)
for _v in ("datetime_seconds_ymd", "datetime_seconds_mdy", "datetime_seconds_dmy"):
    _MINMAX_FORMAT[_v] = re.compile(rf"^({_DATE_ANY}( {_TIME}(:\d{{2}})?)?|today|now)$", re.I)
for _d in (1, 2, 3, 4):
    _MINMAX_FORMAT[f"number_{_d}dp"] = _MINMAX_FORMAT["number"]
    _MINMAX_FORMAT[f"number_{_d}dp_comma_decimal"] = _MINMAX_FORMAT["number_comma_decimal"]

#: Name tokens and label phrases of direct identifiers (HIPAA-style list, trimmed to what a
#: REDCap project holds). Matched on whole ``_``-separated name tokens.
_IDENTIFIER_TOKENS = frozenset({"mrn", "dob", "ssn", "email", "phone", "telephone",
                                "address", "postcode", "zipcode", "surname", "firstname",
                                "lastname", "fullname", "initials", "nhs", "passport"})
_IDENTIFIER_LABEL = re.compile(
    r"\b(date of birth|birth ?date|medical record number|patient name|first name|last name|"
    r"family name|surname|e-?mail address|(tele|mobile )?phone number|mobile number|street address|home address|"
    r"postal code|zip code|social security|passport number|national id)\b", re.I)
_IDENTIFIER_VALIDATION = ("email", "phone", "ssn", "mrn_", "vmrn", "zipcode", "postalcode_")

#: A min/max bound piped from another field (``[x]``, ``[x][previous-instance]``). Kept as a
#: pattern on purpose: a bound is not logic (REDCap pipes it at entry time), and only its
#: shape matters here, not which field it names.
_PIPED = re.compile(r"^(\[[^\[\]]+\])+$")


@dataclass(frozen=True)
class Issue:
    rule: str
    severity: str
    row: int
    column: str
    field: str
    message: str
    hint: str
    file: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.file}:" if self.file else ""
        fld = f" [{self.field}]" if self.field else ""
        return (f"{where}{self.row}: {self.severity} {self.rule}{fld} ({self.column}): "
                f"{self.message} (fix: {self.hint})")


@dataclass
class LintReport:
    file: str
    issues: list[Issue] = field(default_factory=list)
    n_fields: int = 0
    logic_parser: bool = False

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == WARNING]

    def counts(self) -> Counter[tuple[str, str]]:
        """(severity, rule) -> number of issues."""
        return Counter((i.severity, i.rule) for i in self.issues)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "fields": self.n_fields,
            "logic_parser": self.logic_parser,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "issues": [i.to_dict() for i in self.issues],
        }


# ----------------------------------------------------------------------------- logic access
def logic_available() -> bool:
    """True: branching and calc logic are read by ``sgbm_redcap.logic`` (its parser and
    checker; field references come from its AST, never from a pattern over the text)."""
    return True


# ----------------------------------------------------------------------------- the linter
class _FieldSubset:
    """Some fields of a Dictionary, duck-typed as one for ``sgbm_redcap.logic.check``."""

    def __init__(self, fields: list[Field], full: Dictionary) -> None:
        self.fields = fields
        self._full = full

    def get(self, name: str) -> Field | None:
        return self._full.get(name)


class _Linter:
    def __init__(self, d: Dictionary, known_fields: Iterable[str] = (),
                 repeating_forms: Iterable[str] = (),
                 missing_codes: MissingCodes = NO_CODES) -> None:
        self.d = d
        self.codes = missing_codes
        self.repeating = set(repeating_forms)
        self.issues: list[Issue] = []
        self.names = {f.name for f in d.fields}
        self.forms = set(d.forms)
        self.known = self.names | {f"{form}_complete" for form in self.forms} | set(known_fields)
        self.parse, self.check = logic_parse, logic_check
        self._parsed: dict[str, object] = {}

    def add(self, rule: str, f: Field | None, column: str, message: str, row: int | None = None) -> None:
        r = RULES[rule]
        self.issues.append(Issue(
            rule=rule, severity=r.severity, row=row if row is not None else (f.row if f else 1),
            column=column, field=f.name if f else "", message=message, hint=r.hint,
            file=self.d.source))

    def run(self) -> list[Issue]:
        for row, column, message in self.d.notes:
            self.issues.append(Issue("ragged-record", WARNING, row, column or "", "", message,
                                     RULES["ragged-record"].hint, self.d.source))
        self.record_id()
        self.names_and_forms()
        for f in self.d.fields:
            self.field_type(f)
            self.flags(f)
            self.validation(f)
            self.choices(f)
            self.calc(f)
            self.branching(f)
            self.annotation(f)
            self.code_misuse(f)
            self.identifier(f)
        self.matrix()
        self.related_choices()
        self.issues.sort(key=lambda i: (i.row, 0 if i.severity == ERROR else 1, i.rule))
        return self.issues

    # -- record id, names, forms
    def record_id(self) -> None:
        if not self.d.fields:
            return
        first = self.d.fields[0]
        if first.field_type != "text":
            self.add("record-id-not-text", first, UI_HEADER[3],
                     f"first field {first.name!r} is {first.field_type or 'blank'}")
        if first.section_header.strip():
            self.add("record-id-section-header", first, UI_HEADER[2],
                     "REDCap clears the section header of the record id field")

    def names_and_forms(self) -> None:
        first_row: dict[str, Field] = {}
        form_last_index: dict[str, int] = {}
        reported_forms: set[str] = set()
        for index, f in enumerate(self.d.fields):
            name = f.name
            if not name:
                self.add("name-blank", f, UI_HEADER[0], "variable name is blank")
            else:
                normal = re.sub(r"[^a-z0-9_]", "_", name.lower())
                if normal != name:
                    self.add("name-autofix", f, UI_HEADER[0],
                             f"{name!r} would be rewritten to {normal!r}")
                if normal[0].isdigit() or normal.startswith("_") or normal.endswith("_") or "___" in normal:
                    self.add("name-invalid", f, UI_HEADER[0],
                             f"{name!r} starts with a digit or _, ends with _, or contains ___")
                if len(name) > 100:
                    self.add("name-too-long", f, UI_HEADER[0], f"{len(name)} characters")
                elif len(name) > 26:
                    self.add("name-long", f, UI_HEADER[0], f"{name!r} has {len(name)} characters")
                if name in first_row:
                    self.add("name-duplicate", f, UI_HEADER[0],
                             f"{name!r} is already defined on row {first_row[name].row}")
                else:
                    first_row[name] = f
                if self._reserved(normal):
                    self.add("name-reserved", f, UI_HEADER[0], f"{name!r} is reserved by REDCap")
            form = f.form
            if not form:
                self.add("form-blank", f, UI_HEADER[1], "form name is blank")
                continue
            normal_form = re.sub(r"[^a-z0-9_]", "_", form.lower())
            if normal_form != form and form not in reported_forms:
                self.add("form-autofix", f, UI_HEADER[1],
                         f"{form!r} would be rewritten to {normal_form!r}")
            if len(form) > 64 and form not in reported_forms:
                self.add("form-too-long", f, UI_HEADER[1], f"{len(form)} characters")
            elif len(form) > 50 and form not in reported_forms:
                self.add("form-long", f, UI_HEADER[1], f"{form!r} has {len(form)} characters")
            reported_forms.add(form)
            last = form_last_index.get(form)
            if last is not None and last != index - 1 and self.d.fields[index - 1].form != form:
                self.add("form-not-contiguous", f, UI_HEADER[1],
                         f"form {form!r} restarts here after other forms "
                         f"(last seen on row {self.d.fields[last].row})")
            form_last_index[form] = index

    def _reserved(self, name: str) -> bool:
        if name in RESERVED_NAMES:
            return True
        for form in self.forms:
            if name in (f"{form}_timestamp", f"{form}_return_code", f"{form}_complete"):
                return True
        return False

    # -- type, flags, validation
    def field_type(self, f: Field) -> None:
        raw = f.field_type_raw.strip().lower()
        if raw in FIELD_TYPE_ALIASES:
            self.add("type-legacy", f, UI_HEADER[3],
                     f"{f.field_type_raw!r} is rewritten to {FIELD_TYPE_ALIASES[raw]!r}")
        elif f.field_type not in FIELD_TYPES:
            self.add("type-invalid", f, UI_HEADER[3],
                     f"field type {f.field_type_raw!r} is not a REDCap field type"
                     if f.field_type else "field type is blank")

    def flags(self, f: Field) -> None:
        for key, col in (("identifier", UI_HEADER[10]), ("required_field", UI_HEADER[12]),
                         ("matrix_ranking", UI_HEADER[16])):
            value = f.raw.get(key, "").strip()
            if value and value != "y":
                self.add("flag-value", f, col, f"{value!r} is cleared by REDCap (only 'y' counts)")
        if f.required and f.field_type == "descriptive":
            self.add("required-on-descriptive", f, UI_HEADER[12], "descriptive fields take no input")
        if f.alignment and f.alignment not in ("LV", "LH", "RV", "RH"):
            self.add("alignment-invalid", f, UI_HEADER[13], f"{f.alignment!r} is cleared by REDCap")

    def validation(self, f: Field) -> None:
        v = f.validation
        col = UI_HEADER[7]
        if v:
            allowed = (f.field_type in ("text", "slider")
                       or (f.field_type in ("dropdown", "sql") and v.lower() == "autocomplete")
                       or (f.field_type == "file" and v.lower() == "signature"))
            if not allowed:
                self.add("validation-on-non-text", f, col, f"{v!r} on a {f.field_type} field")
            elif f.field_type == "text":
                low = v.lower()
                if low in VALIDATION_ALIASES or low != v:
                    if f.validation_type in VALIDATION_TYPES:
                        self.add("validation-legacy", f, col,
                                 f"{v!r} is rewritten to {f.validation_type!r}")
                    else:
                        self.add("validation-unknown", f, col, f"{v!r} is not a validation type")
                elif low not in VALIDATION_TYPES:
                    self.add("validation-unknown", f, col, f"{v!r} is not a validation type")
        lo, hi = f.validation_min, f.validation_max
        if not (lo or hi):
            return
        if f.field_type == "slider":
            for value, c in ((lo, UI_HEADER[8]), (hi, UI_HEADER[9])):
                if value and not re.fullmatch(r"-?\d+", value):
                    self.add("slider-minmax", f, c, f"{value!r} is not an integer")
            return
        if not v:
            self.add("minmax-without-validation", f, UI_HEADER[8] if lo else UI_HEADER[9],
                     "min/max need a validation type")
            return
        pattern = _MINMAX_FORMAT.get(f.validation_type)
        if pattern is None:
            return
        for value, c in ((lo, UI_HEADER[8]), (hi, UI_HEADER[9])):
            if value and _PIPED.match(value):
                continue  # piped from another field ([x] or [x][previous-instance]): runtime
            if value and not pattern.match(value):
                self.add("minmax-invalid", f, c, f"{value!r} does not fit {f.validation_type}")
        if lo and hi and f.validation_type in ("integer", "number") and pattern.match(lo) \
                and pattern.match(hi):
            if float(lo) > float(hi):
                self.add("minmax-reversed", f, UI_HEADER[8], f"min {lo} > max {hi}")
        elif lo and hi and f.validation_type == "date_ymd" and re.fullmatch(_DATE_YMD, lo) and re.fullmatch(_DATE_YMD, hi):
            if tuple(map(int, lo.split("-"))) > tuple(map(int, hi.split("-"))):
                self.add("minmax-reversed", f, UI_HEADER[8], f"min {lo} > max {hi}")

    # -- choices
    def choices(self, f: Field) -> None:
        if f.field_type not in CHOICE_TYPES:
            return
        col = UI_HEADER[5]
        text = f.choices_raw
        if not text.strip():
            self.add("choices-missing", f, col, f"{f.field_type} field without choices")
            return
        if "|" not in text and "\n" not in text and "\r" not in text and "," not in text:
            self.add("choices-format", f, col, f"{text[:40]!r} is not 'code, label | ...'")
        elif "|" in text and re.search(r"^\s*\||\|\s*$|\|\s*\|", text):
            self.add("choices-stray-bar", f, col, "empty choice between '|' separators")
        items = parse_choice_items(text)
        no_code = [code for code, _, had_comma in items if not had_comma]
        if no_code and len(items) > 1:
            self.add("choices-format", f, col,
                     f"choice {no_code[0]!r} has no 'code,' part"
                     + (f" (and {len(no_code) - 1} more)" if len(no_code) > 1 else ""))
        seen: set[str] = set()
        for code, _, _ in items:
            if not _CODE_OK.match(code):
                self.add("choices-illegal-code", f, col, f"code {code!r}")
            if code in seen:
                self.add("choices-duplicate-code", f, col, f"code {code!r} is used twice")
            seen.add(code)

    # -- logic
    def _scan(self, text: str) -> str | None:
        """Bracket/quote balance; returns a problem description or None."""
        depth = {"(": 0, "[": 0}
        quote = ""
        for ch in text:
            if quote:
                if ch == quote:
                    quote = ""
                continue
            if ch in "'\"":
                quote = ch
            elif ch in "([":
                depth[ch] += 1
            elif ch in ")]":
                key = "(" if ch == ")" else "["
                depth[key] -= 1
                if depth[key] < 0:
                    return f"unmatched {ch!r}"
        if quote:
            return f"unclosed quote {quote}"
        for k, n in depth.items():
            if n:
                return f"unclosed {k!r}"
        return None

    def _check_logic(self, f: Field, text: str, kind: str) -> object | None:
        col = UI_HEADER[5] if kind == "calc" else UI_HEADER[11]
        problem = self._scan(text)
        if problem:
            self.add(f"{kind}-unbalanced", f, col, problem)
            return None
        try:
            tree = self.parse(text)
        except Exception as exc:  # LogicSyntaxError; any parser bug must not crash lint
            self.add(f"{kind}-syntax", f, col, str(exc))
            return None
        self._apply_check(f, tree, kind, col)
        return tree

    def _subset(self, tree: Any) -> _FieldSubset:
        """The fields ``tree`` refers to, as a Dictionary-like view: ``check`` reads every
        field of what it is given, so handing it the whole dictionary for each of 2,000
        branching rules is quadratic."""
        picked: dict[str, Field] = {}
        for node in tree.walk():
            if type(node).__name__ != "FieldRef":
                continue
            f = self.d.get(node.field)
            if f is not None:
                picked.setdefault(f.name, f)
            elif node.field.endswith("_complete") and node.field[:-9] in self.forms:
                first = self.d.form_fields(node.field[:-9])[0]
                picked.setdefault(first.name, first)
        return _FieldSubset(list(picked.values()), self.d)

    def _apply_check(self, f: Field, tree: Any, kind: str, col: str) -> None:
        """Map ``sgbm_redcap.logic.check`` problems onto lint rules."""
        try:
            problems = self.check(tree, self._subset(tree))  # type: ignore[misc]
        except Exception as exc:  # a checker bug must not crash lint
            log.warning("logic check failed on %s row %d: %s", f.name, f.row, exc)
            return
        unknown: list[str] = []
        for p in problems:
            if p.kind == "unknown_field":
                if p.name not in self.known and p.name not in unknown:
                    unknown.append(p.name)
            elif p.kind == "unknown_function":
                self.add(f"{kind}-syntax", f, col, p.message)
            else:
                self.add("logic-reference", f, col, p.message)
        if unknown:
            self.add(f"{kind}-unknown-field", f, col,
                     "unknown field(s): " + ", ".join(f"[{u}]" for u in sorted(unknown)))

    def calc(self, f: Field) -> None:
        if f.field_type != "calc":
            return
        if not f.choices_raw.strip():
            self.add("calc-empty", f, UI_HEADER[5], "no equation")
            return
        tree = self._check_logic(f, f.choices_raw, "calc")
        self._repeating_refs(f, tree, UI_HEADER[5])

    def _repeating_refs(self, f: Field, tree: Any, col: str) -> None:
        """A field of one form reading a field of another, repeating form without saying
        which instance: REDCap then reads an instance the author did not choose."""
        if tree is None or not self.repeating:
            return
        seen: set[str] = set()
        for node in tree.walk():
            if type(node).__name__ != "FieldRef" or node.instance is not None \
                    or node.event is not None or node.field in seen:
                continue
            target = self.d.get(node.field)
            if target is not None and target.form != f.form and target.form in self.repeating:
                seen.add(node.field)
                self.add("logic-repeating-ref", f, col,
                         f"[{node.field}] belongs to repeating form {target.form!r}; name the "
                         "instance ([field][last-instance], [field][1]) or keep the logic "
                         "inside that form")

    def branching(self, f: Field) -> None:
        text = f.branching_logic
        if not text.strip():
            return
        tree = self._check_logic(f, text, "branching")
        self._repeating_refs(f, tree, UI_HEADER[11])
        if tree is not None and f.name in referenced_fields(tree):
            self.add("branching-self-reference", f, UI_HEADER[11], f"[{f.name}] in its own logic")
        impossible = self._impossible_atoms(tree, text)
        for ref_name, value in impossible:
            self.add("branching-impossible-code", f, UI_HEADER[11],
                     f"[{ref_name}] is compared with {value!r}, which is not one of its codes")
        if f.required and impossible and self._conjunctive_impossible(tree, impossible):
            self.add("required-never-shown", f, UI_HEADER[12],
                     "its branching logic can never be true, so the required value can never "
                     "be entered")

    def _choice_codes(self, name: str) -> set[str] | None:
        target = self.d.get(name)
        if target is None or not target.choices:
            return None
        if target.field_type == "checkbox":
            return None  # [cb] = 'x' is not how checkboxes are tested; leave it
        takes = self.codes and accepts_missing_codes(target, self.d.record_id)
        # [ugt1a1_28] = 'ND' is a real test when the field may hold the code
        return set(target.choices) | (set(self.codes.codes) if takes else set())

    def _impossible_atoms(self, tree: object | None, text: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if tree is not None:
            for node in tree.walk():  # type: ignore[attr-defined]
                if type(node).__name__ != "Binary" or node.op not in ("=",):
                    continue
                for a, b in ((node.left, node.right), (node.right, node.left)):
                    if type(a).__name__ == "FieldRef" and a.event is None and a.code is None \
                            and not a.modifiers and type(b).__name__ in ("String", "Number"):
                        value = b.value if type(b).__name__ == "String" else b.text
                        codes = self._choice_codes(a.field)
                        if codes is not None and value != "" and str(value) not in codes:
                            out.append((a.field, str(value)))
        return out

    def _conjunctive_impossible(self, tree: object | None, impossible: list[tuple[str, str]]) -> bool:
        """True when the logic is a chain of ``and`` with an impossible ``=`` in it."""
        if tree is None:
            return False
        bad = set(impossible)
        stack = [tree]
        while stack:
            node = stack.pop()
            kind = type(node).__name__
            if kind == "Binary" and node.op == "and":  # type: ignore[attr-defined]
                stack.extend((node.left, node.right))  # type: ignore[attr-defined]
            elif kind == "Binary" and node.op == "=":  # type: ignore[attr-defined]
                for a, b in ((node.left, node.right), (node.right, node.left)):  # type: ignore[attr-defined]
                    if type(a).__name__ == "FieldRef" and type(b).__name__ in ("String", "Number"):
                        value = b.value if type(b).__name__ == "String" else b.text
                        if (a.field, str(value)) in bad:
                            return True
        return False

    # -- annotation, identifiers
    def annotation(self, f: Field) -> None:
        for tag in f.action_tags:
            if tag in ACTION_TAGS or tag.startswith(ACTION_TAG_PREFIXES):
                continue
            self.add("action-tag-unknown", f, UI_HEADER[17], f"{tag} is not a REDCap action tag")

    def code_misuse(self, f: Field) -> None:
        if nomissing_without_effect(f, self.d.record_id):
            self.add("nomissing-no-effect", f, UI_HEADER[17],
                     f"[{f.name}] is a {f.field_type or 'computed'} field"
                     + (" (the record id)" if f.name == self.d.record_id else "")
                     + ": it takes no missing data code even without @NOMISSING")
        for code in choices_taken_as_codes(f, self.codes, self.d.record_id):
            self.add("missing-code-is-choice", f, UI_HEADER[5],
                     f"choice code {code!r} is also the missing data code {code!r} "
                     f"({self.codes.label(code)})")

    def identifier(self, f: Field) -> None:
        if f.identifier or f.field_type in ("descriptive", "calc") or f is self.d.fields[0]:
            return
        tokens = set(f.name.lower().split("_"))
        reason = ""
        if tokens & _IDENTIFIER_TOKENS:
            reason = f"name token {sorted(tokens & _IDENTIFIER_TOKENS)[0]!r}"
        elif f.validation_type.startswith(_IDENTIFIER_VALIDATION):
            reason = f"validation {f.validation_type}"
        else:
            m = _IDENTIFIER_LABEL.search(re.sub(r"<[^>]+>", " ", f.label))
            if m:
                reason = f"label says {m.group(0)!r}"
        if reason:
            self.add("identifier-not-flagged", f, UI_HEADER[10], reason)

    # -- matrix groups
    def matrix(self) -> None:
        groups: dict[str, list[tuple[int, Field]]] = defaultdict(list)
        for index, f in enumerate(self.d.fields):
            if f.matrix_group:
                groups[f.matrix_group].append((index, f))
        for name, members in groups.items():
            first = members[0][1]
            if not _MATRIX_OK.match(name):
                self.add("matrix-name-invalid", first, UI_HEADER[15], f"{name!r}")
            indexes = [i for i, _ in members]
            if indexes != list(range(indexes[0], indexes[0] + len(indexes))):
                gap = next(f for (i, f), j in zip(members, range(indexes[0], indexes[0] + len(indexes)), strict=False) if i != j)
                self.add("matrix-not-contiguous", gap, UI_HEADER[15],
                         f"group {name!r} is interrupted before this row")
            types = {f.field_type for _, f in members}
            if len(types) > 1 or not types <= {"radio", "checkbox"}:
                self.add("matrix-mixed", first, UI_HEADER[3],
                         f"group {name!r} has types {', '.join(sorted(types))}")
            for _, f in members[1:]:
                if f.choices != first.choices:
                    self.add("matrix-mixed", f, UI_HEADER[5],
                             f"choices differ from {first.name!r} in group {name!r}")
                if f.matrix_ranking != first.matrix_ranking:
                    self.add("matrix-mixed", f, UI_HEADER[16],
                             f"ranking differs from {first.name!r} in group {name!r}")

    # -- related choice fields
    def related_choices(self) -> None:
        """Warn when a label means one code in one field and another code in a related field.

        Two fields are related when their names share the part after the first ``_``
        (``ia_nontarget`` / ``ea_nontarget``) or when their label sets are identical; only
        radio, dropdown and checkbox fields take part (matrix rows are checked above)."""
        fields = [f for f in self.d.fields if f.field_type in CHOICE_TYPES and not f.matrix_group
                  and f.choices]
        def norm(label: str) -> str:
            return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", label)).strip().lower()
        by_labels: dict[frozenset[str], list[Field]] = defaultdict(list)
        by_stem: dict[str, list[Field]] = defaultdict(list)
        for f in fields:
            by_labels[frozenset(norm(v) for v in f.choices.values())].append(f)
            if "_" in f.name:
                by_stem[f.name.split("_", 1)[1]].append(f)
        reported: set[str] = set()
        for group in list(by_labels.values()) + list(by_stem.values()):
            if len(group) < 2:
                continue
            base = group[0]
            base_map = {norm(v): k for k, v in base.choices.items()}
            for other in group[1:]:
                if other.name in reported:
                    continue
                conflicts = [
                    (v, base_map[norm(v)], k) for k, v in other.choices.items()
                    if norm(v) in base_map and base_map[norm(v)] != k
                ]
                if conflicts:
                    label, code_a, code_b = conflicts[0]
                    reported.add(other.name)
                    self.add("choices-inconsistent", other, UI_HEADER[5],
                             f"{label!r} is code {code_b} here but {code_a} in "
                             f"[{base.name}] (row {base.row})")


def lint(dictionary: Dictionary, *, known_fields: Iterable[str] = (),
         repeating_forms: Iterable[str] = (),
         missing_codes: MissingCodes = NO_CODES) -> LintReport:
    """Lint a loaded dictionary. ``known_fields`` are names defined elsewhere (e.g. in the
    other instrument files of the same project) that logic may refer to;
    ``repeating_forms`` (from the project metadata) enables the cross-instance check;
    ``missing_codes`` (the project's) are accepted in logic and checked against choices."""
    linter = _Linter(dictionary, known_fields, repeating_forms, missing_codes)
    issues = linter.run()
    return LintReport(file=dictionary.source, issues=issues, n_fields=len(dictionary),
                      logic_parser=logic_available())


def lint_path(path: str | PathLike[str], *,
              repeating_forms: Iterable[str] | None = None,
              missing_codes: MissingCodes | None = None) -> LintReport:
    """Load and lint one file (dictionary CSV, or REDCap Project XML by its ``.xml``
    suffix); a file that does not load is reported as a ``load-failed`` error naming the row
    and column, never raised."""
    try:
        if str(path).lower().endswith(".xml"):
            from sgbm_redcap.dictionary.odm import read_project_xml

            with open(path, "rb") as fh:
                xml = read_project_xml(fh.read(), str(path))
            d = xml.dictionary
            if repeating_forms is None:
                repeating_forms = xml.repeating_forms
            if missing_codes is None:
                missing_codes = parse_missing_codes(
                    str(xml.settings.get("missing_data_codes", "") or ""))
        else:
            d = load_dictionary(path)
    except OSError as exc:
        rule = RULES["load-failed"]
        return LintReport(file=str(path), issues=[Issue(
            "load-failed", ERROR, 1, "", "", f"cannot read: {exc.strerror or exc}", rule.hint,
            str(path))], logic_parser=logic_available())
    except DictionaryError as exc:
        rule = RULES["load-failed"]
        issue = Issue("load-failed", ERROR, exc.row or 1, exc.column or "", "", str(exc),
                      rule.hint, str(path))
        return LintReport(file=str(path), issues=[issue], logic_parser=logic_available())
    return lint(d, repeating_forms=repeating_forms or (),
                missing_codes=missing_codes or NO_CODES)
