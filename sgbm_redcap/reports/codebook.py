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


VALIDATION_NAMES_ZH = {
    "date_ymd": "日期（YYYY-MM-DD）", "date_dmy": "日期（DD-MM-YYYY）",
    "date_mdy": "日期（MM-DD-YYYY）", "datetime_ymd": "日期和时间（YYYY-MM-DD HH:MM）",
    "datetime_seconds_ymd": "日期和时间（YYYY-MM-DD HH:MM:SS）", "integer": "整数",
    "number": "数字", "number_1dp": "数字，1 位小数", "number_2dp": "数字，2 位小数",
    "email": "电子邮件地址", "phone": "电话号码", "time": "时间（HH:MM）",
    "autocomplete": "可输入检索",
}
FIELD_TYPE_NAMES_ZH = {
    "text": "文本框", "notes": "多行文本框", "radio": "单选（单选按钮）",
    "dropdown": "单选（下拉列表）", "checkbox": "多选（可选多项）", "yesno": "是 / 否",
    "truefalse": "对 / 错", "calc": "自动计算（无需填写）", "descriptive": "说明文字",
    "file": "文件上传", "slider": "滑块", "sql": "查询生成的下拉列表",
}
#: the yes/no choices as REDCap's user-interface language shows them
_YESNO_ZH = {"Yes": "是", "No": "否", "True": "对", "False": "错"}


def _range(field: Any) -> str:
    lo, hi = (field.validation_min or "").strip(), (field.validation_max or "").strip()
    if lo and hi:
        return f"{lo} to {hi}"
    if lo:
        return f"≥ {lo}"
    if hi:
        return f"≤ {hi}"
    return ""


def _zh(language: str) -> bool:
    return language.lower().startswith("zh")


def _texts(field: Any, language: str, translation: Any) -> tuple[str, str, str, list]:
    """(label, note, section header, choices) of a field in ``language`` (the translation
    where it has the item, the English otherwise)."""
    kind = field.field_type
    codes = list(getattr(field, "choices", {}) or {}) if kind not in {"calc", "slider"} else []
    if translation is None:
        return (field.label, field.field_note or "", field.section_header or "",
                [(code, field.choices[code]) for code in codes])

    def item(part: str, english: str) -> str:
        return translation.field_text(field.name, part) or english

    if kind in {"yesno", "truefalse"}:
        choices = [(c, _YESNO_ZH.get(field.choices[c], field.choices[c]) if _zh(language)
                    else field.choices[c]) for c in codes]
    else:
        choices = [(c, translation.choice(field.name, c) or field.choices[c]) for c in codes]
    return (item("label", field.label), item("note", field.field_note or ""),
            item("section", field.section_header or ""), choices)


def codebook_field(field: Any, language: str = "en", translation: Any = None,
                   second: tuple[str, Any] | None = None) -> CodebookField:
    """One field of the codebook in ``language`` (``translation``: the project's translation
    into it, None for the English CRF); ``second`` = (language, translation) of the other
    column of a side-by-side codebook."""
    kind = field.field_type
    types, validations = ((FIELD_TYPE_NAMES_ZH, VALIDATION_NAMES_ZH) if _zh(language)
                          else (FIELD_TYPE_NAMES, VALIDATION_NAMES))
    label, note, section, choices = _texts(field, language, translation)
    label_2 = note_2 = section_2 = ""
    choices_2: list[tuple[str, str]] = []
    if second is not None:
        label_2, note_2, section_2, choices_2 = _texts(field, *second)
    return CodebookField(
        name=field.name,
        label=label,
        field_type=types.get(kind, kind),
        validation=validations.get(field.validation or "", field.validation or ""),
        range=_range(field),
        choices=choices,
        required=bool(field.required),
        identifier=bool(field.identifier),
        branching_logic=field.branching_logic or "",
        note=note,
        section_header=section,
        label_2=label_2, note_2=note_2, section_header_2=section_2, choices_2=choices_2,
    )


#: ``language`` of a side-by-side codebook: the CRF's language and its translation(s)
BOTH = "both"


def build_codebook(dictionary: Any, *, version: str = "", repeating_forms: Iterable[str] = (),
                   generated_at: datetime | None = None,
                   study_name: str | None = None, language: str = "en",
                   project: Any = None) -> CodebookContext:
    """The codebook context for a :class:`sgbm_redcap.dictionary.Dictionary`; ``study_name``
    (default: the short name of the study of this repository) heads it. ``language``: the
    CRF's default language, a language of the project's translations (``zh-CN``), or
    ``both`` (English and the first translation side by side). Instrument titles are those
    REDCap shows (``project.form_label`` / the translation's titles)."""
    from sgbm_redcap.reports.i18n import text, words

    if project is None:
        from sgbm_redcap.dictionary.project import study_project

        project = study_project()
    if study_name is None:
        study_name = project.short_name
    default = project.default_language
    second: tuple[str, Any] | None = None
    if language == BOTH:
        other = project.languages[0].id if project.languages else default
        main_lang, main_t = default, None
        second = (other, project.translation(other))
        page_lang = default  # English page (bold Latin); the other column has its own lang
    else:
        main_lang = language
        main_t = project.translation(language) if language != default else None
        if language != default and main_t is None:
            raise ValueError(f"the project has no {language!r} translation; languages: "
                             f"{', '.join([default, *(lf.id for lf in project.languages)])}")
        page_lang = language
    repeating = set(repeating_forms)

    def title(form: str, t: Any) -> str:
        return (t.form_title(form) if t else "") or project.form_label(form)

    forms = [
        CodebookForm(
            name=form,
            label=title(form, main_t),
            repeating=form in repeating,
            fields=[codebook_field(f, main_lang, main_t, second)
                    for f in dictionary.form_fields(form)],
            label_2=title(form, second[1]) if second else "",
        )
        for form in dictionary.forms
    ]
    ui_lang = second[0] if second else main_lang
    return CodebookContext(
        title=f"{study_name} {text(main_lang, 'codebook')}".lstrip(),
        dictionary_version=version or "unversioned",
        generated_at=generated_at or datetime.now(timezone.utc),
        forms=forms,
        n_fields=sum(len(f.fields) for f in forms),
        running_header=(f"{study_name} {text(main_lang, 'codebook')} · "
                        f"{version or 'unversioned'}").lstrip(),
        lang=page_lang,
        ui=words(ui_lang if second else main_lang) if not second else
        {k: f"{v} / {words(ui_lang)[k]}" if v != words(ui_lang)[k] else v
         for k, v in words(main_lang).items()},
        languages=[main_lang, second[0]] if second else [],
        language_names=["English" if main_lang == "en" else main_lang,
                        next((lf.display for lf in project.languages if lf.id == second[0]),
                             second[0])] if second else [],
        intro=text(main_lang, "codebook_intro"),
        badges=text(main_lang, "codebook_badges"),
    )


def render_codebook(dictionary: Any, **kwargs: Any) -> str:
    """The codebook as self-contained HTML (see :func:`build_codebook` for the options)."""
    return render("codebook.html.j2", build_codebook(dictionary, **kwargs))
