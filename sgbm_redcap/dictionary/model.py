"""The data dictionary as objects: one ``Field`` per CSV record, a ``Dictionary`` over them.

The model keeps what the file said (``raw`` cells, ``field_type_raw``) next to the
normalised values, because the linter must report what REDCap would do with the file as
written, while every other package wants the normalised view.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

#: Canonical column keys (REDCap's API names), in the 18-column order.
COLUMNS: tuple[str, ...] = (
    "field_name",
    "form_name",
    "section_header",
    "field_type",
    "field_label",
    "select_choices_or_calculations",
    "field_note",
    "text_validation_type_or_show_slider_number",
    "text_validation_min",
    "text_validation_max",
    "identifier",
    "branching_logic",
    "required_field",
    "custom_alignment",
    "question_number",
    "matrix_group_name",
    "matrix_ranking",
    "field_annotation",
)

#: The header REDCap's UI writes when a dictionary is downloaded (same order as COLUMNS).
UI_HEADER: tuple[str, ...] = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)

#: Legacy field types REDCap rewrites on upload.
FIELD_TYPE_ALIASES = {"textarea": "notes", "select": "dropdown"}
#: Legacy validation names REDCap rewrites on upload (and the ODM still uses).
VALIDATION_ALIASES = {
    "int": "integer",
    "float": "number",
    "date": "date_ymd",
    "datetime": "datetime_ymd",
    "datetime_seconds": "datetime_seconds_ymd",
}
CHOICE_TYPES = frozenset({"radio", "dropdown", "checkbox"})
FIXED_CHOICES = {
    "yesno": {"1": "Yes", "0": "No"},
    "truefalse": {"1": "True", "0": "False"},
}

_CHECKBOX_CODE_UNSAFE = re.compile(r"[^a-z0-9_]")


def parse_choice_items(text: str) -> list[tuple[str, str, bool]]:
    """(code, label, had_comma) for every non-empty item of a choices string.

    The one reading of REDCap's choices cell (docs/dictionary.md, "Choices and checkbox
    columns"): items are separated by ``|`` when the cell has one (line breaks then also
    separate, as in a cell REDCap stored one choice a line), else by line breaks. Each item
    splits at its **first** comma: ``2, Yes, with help`` is code ``2``, label
    ``Yes, with help``. An item without a comma keeps its whole text as code and label.
    """
    if not text or not text.strip():
        return []
    if "|" in text:
        parts = re.split(r"\s*\|\s*|\r\n|\r|\n", text)
    else:
        parts = re.split(r"\r\n|\r|\n", text)
    items: list[tuple[str, str, bool]] = []
    for part in parts:
        item = part.strip()
        if not item:
            continue
        code, sep, label = item.partition(",")
        items.append((code.strip(), label.strip(), True) if sep else (item, item, False))
    return items


def parse_choices(text: str) -> list[tuple[str, str]]:
    """Split a REDCap choices string into (code, label) pairs, in order.

    Accepts the export form (``1, Yes | 0, No``) and the stored form (one choice a line).
    An item without a comma keeps the whole text as both code and label, which is what
    REDCap shows; the linter reports it. Empty items (stray ``|``) are skipped.
    """
    return [(code, label) for code, label, _ in parse_choice_items(text)]


def choice_map(text: str) -> dict[str, str]:
    """code -> label of a choices string; a code written twice keeps its first label (the
    linter reports the duplicate; REDCap's upload refuses it)."""
    out: dict[str, str] = {}
    for code, label in parse_choices(text):
        out.setdefault(code, label)
    return out


def checkbox_column(name: str, code: str) -> str:
    """Flat-export column of one checkbox option: ``name___code`` with the code lower-cased
    and every character other than ``[a-z0-9_]`` replaced by ``_`` (``-99`` → ``name____99``,
    ``4.4`` → ``name___4_4``, ``a b`` → ``name___a_b``). The evidence for this rule is in
    docs/dictionary.md ("Choices and checkbox columns"); this is its only implementation."""
    return f"{name}___{_CHECKBOX_CODE_UNSAFE.sub('_', str(code).lower())}"


_DIGIT_RUNS = re.compile(r"(\d+)")


def record_sort_key(record: object) -> tuple[int, tuple[str | int, ...], str]:
    """REDCap's record order, as a sort key: record ids made of digits only come first, in
    numeric order (``2`` before ``10``), then every other id in natural order, digit runs
    compared as numbers (``1-1``, ``2-3``, ``2-10``, ``a9``, ``a10``); ties (``7`` and
    ``007``) by their text. The one definition of the order (docs/source.md, "Record
    order"): the sandbox's exports, the tidy tables, the pull cache and the report listings
    use it."""
    text = str(record)
    if text.isdigit():
        return (0, (int(text),), text)
    parts = _DIGIT_RUNS.split(text)  # text, digits, text, ...: same types at same positions
    return (1, tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), text)


@dataclass
class Field:
    """One row of the dictionary. ``row`` is the 1-based CSV record number (header = 1)."""

    name: str
    form: str
    section_header: str = ""
    field_type: str = ""
    label: str = ""
    choices_raw: str = ""
    field_note: str = ""
    validation: str = ""
    validation_min: str = ""
    validation_max: str = ""
    identifier: bool = False
    branching_logic: str = ""
    required: bool = False
    alignment: str = ""
    question_number: str = ""
    matrix_group: str = ""
    matrix_ranking: bool = False
    annotation: str = ""
    row: int = 0
    #: the cells as written, keyed by canonical column (COLUMNS)
    raw: dict[str, str] = field(default_factory=dict, repr=False)
    #: cells of columns beyond REDCap's 18 (e.g. OMOP mappings), keyed by header
    extra: dict[str, str] = field(default_factory=dict, repr=False)
    #: field type exactly as written (before lower-casing and alias rewriting)
    field_type_raw: str = ""

    @property
    def choices(self) -> dict[str, str]:
        """code -> label for radio, dropdown, checkbox, yesno and truefalse; else ``{}``."""
        if self.field_type in FIXED_CHOICES:
            return dict(FIXED_CHOICES[self.field_type])
        if self.field_type in CHOICE_TYPES:
            return choice_map(self.choices_raw)
        return {}

    @property
    def calculation(self) -> str:
        """The equation of a calc field ('' for other types)."""
        return self.choices_raw if self.field_type == "calc" else ""

    @property
    def validation_type(self) -> str:
        """Validation with REDCap's legacy aliases resolved (``int`` → ``integer``)."""
        v = self.validation.strip().lower()
        return VALIDATION_ALIASES.get(v, v)

    @property
    def is_date(self) -> bool:
        return self.field_type == "text" and self.validation_type.startswith("date")

    @property
    def action_tags(self) -> list[str]:
        """Action tags named in the annotation, upper-cased, in order (``@HIDDEN`` …)."""
        return [m.upper() for m in re.findall(r"@[A-Za-z][A-Za-z0-9_-]*", self.annotation)]

    def export_columns(self) -> list[str]:
        """This field's flat-export columns (none for descriptive fields)."""
        if self.field_type == "descriptive":
            return []
        if self.field_type == "checkbox":
            return [checkbox_column(self.name, code) for code in self.choices]
        return [self.name]


@dataclass
class Dictionary:
    """A whole data dictionary, in file order.

    ``source`` names where it came from (a path or ``<text>``); ``encoding``,
    ``delimiter`` and ``header`` describe the file as read, ``notes`` collects what the loader
    had to repair (e.g. ragged rows), for the linter to report.
    """

    fields: list[Field]
    source: str = "<text>"
    encoding: str = "utf-8"
    delimiter: str = ","
    header: list[str] = field(default_factory=list)
    notes: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column, message)

    def __post_init__(self) -> None:
        self._by_name: dict[str, Field] = {}
        for f in self.fields:
            self._by_name.setdefault(f.name, f)

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def record_id(self) -> str:
        """REDCap's record id field: the first field of the dictionary."""
        return self.fields[0].name if self.fields else ""

    @property
    def forms(self) -> list[str]:
        """Form names in order of first appearance."""
        seen: dict[str, None] = {}
        for f in self.fields:
            seen.setdefault(f.form, None)
        return list(seen)

    def field(self, name: str) -> Field:
        """The field called ``name`` (the first one if the file repeats it)."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no field {name!r} in dictionary {self.source}") from None

    def get(self, name: str) -> Field | None:
        return self._by_name.get(name)

    def form_fields(self, form: str) -> list[Field]:
        return [f for f in self.fields if f.form == form]

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def export_columns(self) -> list[str]:
        """Flat-export columns in REDCap's order: each form's fields (checkbox expanded to
        ``name___code``, descriptive omitted) followed by ``<form>_complete``. The
        ``redcap_*`` columns (event, repeat instrument/instance, DAG) are not included."""
        cols: list[str] = []
        for form in self.forms:
            for f in self.form_fields(form):
                cols.extend(f.export_columns())
            cols.append(f"{form}_complete")
        return cols

    def to_rows(self) -> list[list[str]]:
        """The 18 REDCap columns of every field, as written (for writing a CSV back)."""
        return [[f.raw.get(c, "") for c in COLUMNS] for f in self.fields]
