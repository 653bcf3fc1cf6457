"""A project's design as the sandbox uses it: fields, forms, choices, events, export columns.

Built once per configuration version from the stored 18-key metadata rows and cached; every
record call reads it, so it precomputes what import and export need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sgbm_redcap.dictionary.missing import MissingCodes, accepts_missing_codes, parse_missing_codes
from sgbm_redcap.dictionary.model import (
    COLUMNS,
    FIELD_TYPE_ALIASES,
    FIXED_CHOICES,
    UI_HEADER,
    VALIDATION_ALIASES,
    Field,
    checkbox_column,
    choice_map,
)

#: The API metadata keys and the UI download header (REDCAP_API.md §5.1), in the 18-column
#: order: one definition, in the dictionary package.
METADATA_KEYS = COLUMNS
UI_HEADERS = UI_HEADER
UI_TO_KEY = dict(zip(UI_HEADERS, METADATA_KEYS, strict=True))
CHOICE_TYPES = ("radio", "dropdown", "checkbox")
COMPLETE_LABELS = {"0": "Incomplete", "1": "Unverified", "2": "Complete"}


def modern_type(field_type: str) -> str:
    t = (field_type or "").strip().lower()
    return FIELD_TYPE_ALIASES.get(t, t)


def modern_validation(v: str) -> str:
    v = (v or "").strip().lower()
    return VALIDATION_ALIASES.get(v, v)


def form_label(form: str) -> str:
    """REDCap's label for an instrument created from a dictionary upload."""
    text = form.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def unique_name(label: str, existing: set[str], limit: int, suffix: str = "") -> str:
    """REDCap's unique-name rule for events (``suffix='_arm_N'``) and DAGs (§4.3)."""
    base = re.sub(r"[^0-9a-z_ ]", "", label.lower()).replace(" ", "_")[:limit]
    base = base.strip("_") if suffix else base.rstrip("_")
    base = base or "x"
    name = base + suffix
    n = 0
    while name in existing:
        name = base + chr(ord("a") + n % 26) * (n // 26 + 1) + suffix
        n += 1
    return name


@dataclass
class FieldInfo:
    name: str
    form: str
    ftype: str
    label: str
    validation: str
    vmin: str
    vmax: str
    choices: dict[str, str]
    annotation: str
    calc: str
    row: dict[str, str]

    @property
    def stores_data(self) -> bool:
        return self.ftype != "descriptive"


@dataclass
class ProjectMeta:
    """The design of one project, derived from its stored configuration."""

    config: dict[str, Any]
    fields: dict[str, FieldInfo] = field(default_factory=dict)
    forms: list[str] = field(default_factory=list)
    form_fields: dict[str, list[str]] = field(default_factory=dict)
    #: flat-export column → (kind, field or form, code)
    columns: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    column_order: list[str] = field(default_factory=list)
    #: memo tables of derived answers (the design is immutable once built)
    cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, config: dict[str, Any]) -> ProjectMeta:
        m = cls(config=config)
        for row in config.get("metadata", []):
            f = FieldInfo(
                name=row["field_name"], form=row["form_name"],
                ftype=modern_type(row.get("field_type", "")), label=row.get("field_label", ""),
                validation=modern_validation(row.get("text_validation_type_or_show_slider_number", "")),
                vmin=row.get("text_validation_min", ""), vmax=row.get("text_validation_max", ""),
                choices={}, annotation=row.get("field_annotation", ""), calc="", row=row,
            )
            raw_choices = row.get("select_choices_or_calculations", "")
            if f.ftype in CHOICE_TYPES:
                f.choices = choice_map(raw_choices)
            elif f.ftype in FIXED_CHOICES:
                f.choices = dict(FIXED_CHOICES[f.ftype])
            elif f.ftype == "calc":
                f.calc = raw_choices
            m.fields[f.name] = f
            if f.form not in m.form_fields:
                m.forms.append(f.form)
                m.form_fields[f.form] = []
            m.form_fields[f.form].append(f.name)
        for form in m.forms:
            for name in m.form_fields[form]:
                f = m.fields[name]
                if f.ftype == "descriptive":
                    continue
                if f.ftype == "checkbox":
                    for code in f.choices:
                        col = checkbox_column(name, code)
                        m.columns[col] = ("checkbox", name, code)
                        m.column_order.append(col)
                else:
                    m.columns[name] = ("field", name, "")
                    m.column_order.append(name)
            col = f"{form}_complete"
            m.columns[col] = ("complete", form, "")
            m.column_order.append(col)
        return m

    # ------------------------------------------------------------------ missing data codes
    @property
    def project_codes(self) -> MissingCodes:
        """The project's missing data codes (project info ``missing_data_codes``)."""
        got = self.cache.get("missing_codes")
        if got is None:
            got = self.cache["missing_codes"] = parse_missing_codes(
                str(self.config.get("missing_data_codes") or ""))
        return got  # type: ignore[no-any-return]

    def codes_taken(self, name: str) -> frozenset[str]:
        """The codes field ``name`` takes instead of a value (none with ``@NOMISSING``, for
        the record id, calc and descriptive fields: ``dictionary.missing``'s rule)."""
        f = self.fields[name]
        as_field = Field(name=f.name, form=f.form, field_type=f.ftype, annotation=f.annotation)
        if not self.project_codes or not accepts_missing_codes(as_field, self.record_id):
            return frozenset()
        return frozenset(self.project_codes.codes)

    # ------------------------------------------------------------------ project shape
    @property
    def record_id(self) -> str:
        md = self.config.get("metadata") or []
        return md[0]["field_name"] if md else "record_id"

    @property
    def longitudinal(self) -> bool:
        return bool(self.config.get("is_longitudinal"))

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.config.get("events", [])

    @property
    def event_names(self) -> list[str]:
        return [e["unique_event_name"] for e in self.events]

    def event(self, unique: str) -> dict[str, Any] | None:
        for e in self.events:
            if e["unique_event_name"] == unique:
                return e
        return None

    def event_label(self, unique: str) -> str:
        e = self.event(unique)
        if e is None:
            return unique
        # the "(Arm n: name)" suffix only when more than one arm has events: PyCap's doctest
        # project, with a second arm but no event on it, labels its event "Event 1"
        arms = {ev["arm_num"] for ev in self.events}
        if len(arms) > 1:
            arm = next((a for a in self.config["arms"] if a["arm_num"] == e["arm_num"]), None)
            return f"{e['event_name']} (Arm {e['arm_num']}: {arm['name'] if arm else ''})"
        return e["event_name"]

    def forms_on_event(self, event: str) -> list[str]:
        if not self.longitudinal:
            return list(self.forms)
        mapped = {m["form"] for m in self.config.get("fem", []) if m["unique_event_name"] == event}
        return [f for f in self.forms if f in mapped]

    @property
    def repeating(self) -> list[dict[str, str]]:
        return self.config.get("repeating", [])

    def repeating_form(self, form: str, event: str = "") -> bool:
        for r in self.repeating:
            if r.get("form_name") == form and (not self.longitudinal or r.get("event_name") == event):
                return True
        return False

    def repeating_event(self, event: str) -> bool:
        return any(r.get("event_name") == event and not r.get("form_name") for r in self.repeating)

    @property
    def has_repeating(self) -> bool:
        return bool(self.repeating)

    def form_label(self, form: str) -> str:
        return self.config.get("form_labels", {}).get(form) or form_label(form)

    @property
    def dag_names(self) -> dict[str, str]:
        return {d["unique_group_name"]: d["data_access_group_name"]
                for d in self.config.get("dags", [])}
