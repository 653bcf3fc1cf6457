"""The data dictionary as a document for sites: one section per instrument, each field with
its question, type, allowed values, range, branching logic and notes.

Identifier fields are listed (a site must know they exist and how to fill them) and marked
as identifiers; the codebook holds no data, so nothing identifying is ever shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from sgbm_redcap.reports.contexts import CodebookContext, CodebookField, CodebookForm
from sgbm_redcap.reports.env import render

#: Readable names of REDCap validation types.
VALIDATION_NAMES = {
    "date_ymd": "date (YYYY-MM-DD)",
    "date_dmy": "date (DD-MM-YYYY)",
    "date_mdy": "date (MM-DD-YYYY)",
    "datetime_ymd": "date and time (YYYY-MM-DD HH:MM)",
    "datetime_seconds_ymd": "date and time (YYYY-MM-DD HH:MM:SS)",
    "integer": "whole number",
    "number": "number",
    "number_1dp": "number, 1 decimal",
    "number_2dp": "number, 2 decimals",
    "email": "e-mail address",
    "phone": "phone number",
    "time": "time (HH:MM)",
}
FIELD_TYPE_NAMES = {
    "text": "text box",
    "notes": "notes box (free text)",
    "radio": "single choice (radio)",
    "dropdown": "single choice (drop-down)",
    "checkbox": "multiple choice (tick all that apply)",
    "yesno": "Yes / No",
    "truefalse": "True / False",
    "calc": "calculated (do not enter)",
    "descriptive": "descriptive text",
    "file": "file upload",
    "slider": "slider",
    "sql": "drop-down from a query",
}


def form_title(name: str) -> str:
    """``brain_mets_baseline`` → ``Brain mets baseline``."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _range(field: Any) -> str:
    lo, hi = (field.validation_min or "").strip(), (field.validation_max or "").strip()
    if lo and hi:
        return f"{lo} to {hi}"
    if lo:
        return f"≥ {lo}"
    if hi:
        return f"≤ {hi}"
    return ""


def codebook_field(field: Any) -> CodebookField:
    kind = field.field_type
    choices = list(getattr(field, "choices", {}) or {}) if kind not in {"calc", "slider"} else []
    return CodebookField(
        name=field.name,
        label=field.label,
        field_type=FIELD_TYPE_NAMES.get(kind, kind),
        validation=VALIDATION_NAMES.get(field.validation or "", field.validation or ""),
        range=_range(field),
        choices=[(code, field.choices[code]) for code in choices],
        required=bool(field.required),
        identifier=bool(field.identifier),
        branching_logic=field.branching_logic or "",
        note=field.field_note or "",
        section_header=field.section_header or "",
    )


def build_codebook(dictionary: Any, *, version: str = "", repeating_forms: Iterable[str] = (),
                   generated_at: datetime | None = None,
                   study_name: str | None = None) -> CodebookContext:
    """The codebook context for a :class:`sgbm_redcap.dictionary.Dictionary`; ``study_name``
    (default: the short name of the study of this repository) heads it."""
    if study_name is None:
        from sgbm_redcap.dictionary.project import study_project

        study_name = study_project().short_name
    repeating = set(repeating_forms)
    forms = [
        CodebookForm(
            name=form,
            label=form_title(form),
            repeating=form in repeating,
            fields=[codebook_field(f) for f in dictionary.form_fields(form)],
        )
        for form in dictionary.forms
    ]
    return CodebookContext(
        title=f"{study_name} codebook".lstrip(),
        dictionary_version=version or "unversioned",
        generated_at=generated_at or datetime.now(timezone.utc),
        forms=forms,
        n_fields=sum(len(f.fields) for f in forms),
        running_header=(f"{study_name} codebook · dictionary "
                        f"{version or 'unversioned'}").lstrip(),
    )


def render_codebook(dictionary: Any, **kwargs: Any) -> str:
    """The codebook as self-contained HTML (see :func:`build_codebook` for the options)."""
    return render("codebook.html.j2", build_codebook(dictionary, **kwargs))
