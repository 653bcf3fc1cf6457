"""Translations of the CRF (REDCap Multi-Language Management) and their one reader and writer.

Two files per language live in ``redcap_project/translations/``:

- ``<lang>.toml``, the readable source a translator and a clinical reviewer edit: one table per
  instrument (title, repeating-instance label) and per field (label, note, section header,
  choices by code), shared choice lists, and ``review`` notes where a term needs a check;
- ``<lang>.mlm.json``, generated from it by ``redcap_project/build_translations.py``: the
  language file REDCap's MLM page imports (*Multi-Language Management → Edit language →
  Import from file*). Its essential parts, as REDCap's own export file states, are the root
  items ``creator`` (always ``"REDCap MLM"``), ``key``, ``display`` and ``rtl``, and every
  ``id`` and ``translation`` with the path leading to it; everything else is ignored on
  import, and ids that do not match the project are ignored silently. The file also carries
  each English ``default`` (ignored by REDCap) so that a reviewer sees both texts.

Both read into one :class:`Translation`, a flat map of item keys to text:
``form:<form>:title``, ``form:<form>:repeat_label``, ``field:<name>:label|note|section`` and
``field:<name>:choice:<code>``. :func:`english_items` gives the same keys for the English of a
project, so the linter (``dictionary.translation_lint``) and the diff compare key by key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from sgbm_redcap.dictionary.load import read_toml
from sgbm_redcap.dictionary.model import Dictionary
from sgbm_redcap.errors import DictionaryError

#: field types whose choice labels MLM translates per field (yes/no, true/false and the form
#: status come from REDCap's user-interface language instead)
CHOICE_FIELD_TYPES = frozenset({"radio", "dropdown", "checkbox"})
#: the parts of a field MLM translates, the source file's key for each, and its MLM JSON key
FIELD_PARTS = (("label", "label"), ("note", "note"), ("section", "header"))
MLM_CREATOR = "REDCap MLM"


def item_key(*parts: str) -> str:
    return ":".join(parts)


def split_key(key: str) -> tuple[str, str, str, str]:
    """``field:ae_term:choice:1001`` → ``("field", "ae_term", "choice", "1001")``."""
    kind, name, part, *code = key.split(":", 3)
    return kind, name, part, (code[0] if code else "")


@dataclass
class Translation:
    """One language's text for the CRF: item key → text, plus reviewer notes by key."""

    language: str
    display: str
    items: dict[str, str] = field(default_factory=dict)
    reviews: dict[str, str] = field(default_factory=dict)
    rtl: bool = False
    source: str = ""

    def text(self, key: str) -> str:
        return self.items.get(key, "")

    def form_title(self, form: str) -> str:
        return self.text(item_key("form", form, "title"))

    def field_text(self, name: str, part: str) -> str:
        return self.text(item_key("field", name, part))

    def choice(self, name: str, code: str) -> str:
        return self.text(item_key("field", name, "choice", str(code)))


# --------------------------------------------------------------------------- the English side
@dataclass(frozen=True)
class EnglishItem:
    key: str
    text: str
    row: int  # dictionary CSV record of the field (1 for instrument items)
    form: str


def form_labels(dictionary: Dictionary, labels: dict[str, str] | None = None) -> dict[str, str]:
    """Instrument label of every form (``labels`` from project.toml, else REDCap's default)."""
    from sgbm_redcap.dictionary.odm import form_label

    labels = labels or {}
    return {form: labels.get(form) or form_label(form) for form in dictionary.forms}


def english_items(dictionary: Dictionary, *, instrument_labels: dict[str, str] | None = None,
                  repeating_labels: dict[str, str] | None = None,
                  repeating_forms: Iterable[str] = ()) -> dict[str, EnglishItem]:
    """Every translatable item of a project in its English original, by item key."""
    out: dict[str, EnglishItem] = {}
    repeating = set(repeating_forms)
    for form, title in form_labels(dictionary, instrument_labels).items():
        out[item_key("form", form, "title")] = EnglishItem(
            item_key("form", form, "title"), title, 1, form)
        label = (repeating_labels or {}).get(form, "")
        if form in repeating and label:
            key = item_key("form", form, "repeat_label")
            out[key] = EnglishItem(key, label, 1, form)
    for f in dictionary.fields:
        for part, text in (("label", f.label), ("note", f.field_note),
                           ("section", f.section_header)):
            if (text or "").strip():
                key = item_key("field", f.name, part)
                out[key] = EnglishItem(key, text, f.row, f.form)
        if f.field_type in CHOICE_FIELD_TYPES:
            for code, label in f.choices.items():
                key = item_key("field", f.name, "choice", code)
                out[key] = EnglishItem(key, label, f.row, f.form)
    return out


def project_english(project: Any) -> dict[str, EnglishItem]:
    """:func:`english_items` of a ``StudyProject``."""
    return english_items(project.dictionary,
                         instrument_labels=getattr(project, "instrument_labels", None),
                         repeating_labels=project.repeating_labels,
                         repeating_forms=project.repeating_forms)


# --------------------------------------------------------------------------- the source (TOML)
def load_source(path: str | PathLike[str]) -> Translation:
    """Read a readable translation source (``<lang>.toml``).

    Layout: ``[language]`` (``id``, ``display``); ``[choice_lists.<name>]`` code → text;
    ``[forms.<form>]`` ``title``, ``repeat_label``; ``[fields.<name>]`` ``label``, ``note``,
    ``section``, ``choices`` (a table code → text, or the name of a choice list),
    ``choices_extra`` (codes added to a named list) and ``review`` / ``review_choices``
    (reviewer notes)."""
    p = Path(path)
    data = read_toml(p, what="translation", name="translation source")
    lang = data.get("language", {})
    t = Translation(str(lang.get("id", "")), str(lang.get("display", "")),
                    rtl=bool(lang.get("rtl", False)), source=str(p))
    if not t.language:
        raise DictionaryError("translation source has no [language] id", file=str(p),
                              column="language.id")
    lists = {str(k): {str(c): str(v) for c, v in table.items()}
             for k, table in data.get("choice_lists", {}).items()}
    for form, table in data.get("forms", {}).items():
        for part in ("title", "repeat_label"):
            if part in table:
                t.items[item_key("form", form, part)] = str(table[part])
        if "review" in table:
            t.reviews[item_key("form", form, "title")] = str(table["review"])
    for name, table in data.get("fields", {}).items():
        for part, _ in FIELD_PARTS:
            if part in table:
                t.items[item_key("field", name, part)] = str(table[part])
        if "review" in table:
            t.reviews[item_key("field", name, "label")] = str(table["review"])
        choices = table.get("choices", {})
        if isinstance(choices, str):
            if choices not in lists:
                raise DictionaryError(f"[fields.{name}] names the choice list {choices!r}, "
                                      "which [choice_lists] does not define", file=str(p),
                                      column=f"fields.{name}.choices")
            choices = lists[choices]
        choices = {**choices, **table.get("choices_extra", {})}
        for code, text in choices.items():
            t.items[item_key("field", name, "choice", str(code))] = str(text)
        for code, note in table.get("review_choices", {}).items():
            t.reviews[item_key("field", name, "choice", str(code))] = str(note)
    return t


# --------------------------------------------------------------------------- MLM JSON
def to_mlm(t: Translation, dictionary: Dictionary, *,
           english: dict[str, EnglishItem] | None = None,
           generator: str = "") -> dict[str, Any]:
    """The MLM language file (a dict ready for ``json.dumps``) of ``t`` for ``dictionary``:
    every translated item in dictionary order, with its English ``default``."""
    english = english if english is not None else english_items(dictionary)

    def node(key: str) -> dict[str, str]:
        return {"translation": t.text(key), "default": english[key].text if key in english
                else ""}

    forms = []
    for form in dictionary.forms:
        entry: dict[str, Any] = {"id": form}
        for part, mlm in (("title", "name"), ("repeat_label", "custom_form_label")):
            key = item_key("form", form, part)
            if key in t.items:
                entry[mlm] = node(key)
        if len(entry) > 1:
            forms.append(entry)
    fields = []
    for f in dictionary.fields:
        entry = {"id": f.name, "form": f.form}
        for part, mlm in FIELD_PARTS:
            key = item_key("field", f.name, part)
            if key in t.items:
                entry[mlm] = node(key)
        codes = [c for c in f.choices] if f.field_type in CHOICE_FIELD_TYPES else []
        enum = [{"id": code, **node(item_key("field", f.name, "choice", code))}
                for code in codes if item_key("field", f.name, "choice", code) in t.items]
        if enum:
            entry["enum"] = enum
        if len(entry) > 2:
            fields.append(entry)
    # items that name no field or form of the dictionary are kept, so that the linter sees
    # them in the generated file too (REDCap would ignore them silently)
    known = {e["id"] for e in fields} | {f.name for f in dictionary.fields}
    orphans: dict[str, dict[str, Any]] = {}
    for key in t.items:
        kind, name, part, code = split_key(key)
        if kind == "field" and name not in known:
            entry = orphans.setdefault(name, {"id": name, "form": ""})
            if part == "choice":
                entry.setdefault("enum", []).append({"id": code, **node(key)})
            else:
                entry[dict(FIELD_PARTS).get(part, part)] = node(key)
        elif kind == "form" and name not in dictionary.forms:
            forms.append({"id": name, {"title": "name"}.get(part, "custom_form_label"):
                          node(key)})
    fields.extend(orphans.values())
    return {
        "creator": MLM_CREATOR,
        "key": t.language,
        "display": t.display,
        "rtl": t.rtl,
        "notes": (f"Generated by {generator} from {Path(t.source).name}; edit that file, not "
                  "this one." if generator else ""),
        "formTranslations": forms,
        "fieldTranslations": fields,
    }


def mlm_json(t: Translation, dictionary: Dictionary, **kwargs: Any) -> str:
    """:func:`to_mlm` as the text written to ``<lang>.mlm.json`` (stable, UTF-8, indented)."""
    return json.dumps(to_mlm(t, dictionary, **kwargs), ensure_ascii=False, indent=1) + "\n"


def read_mlm(data: str | bytes | dict[str, Any], source: str = "") -> Translation:
    """A :class:`Translation` from an MLM language file (ours, or one exported by REDCap)."""
    if not isinstance(data, dict):
        try:
            text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
            data = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DictionaryError(f"not an MLM language file (JSON): {exc}",
                                  file=source) from None
    if not isinstance(data, dict) or data.get("creator") != MLM_CREATOR or not data.get("key"):
        raise DictionaryError("not an MLM language file: its root needs creator "
                              f"{MLM_CREATOR!r} and key", file=source)
    t = Translation(str(data["key"]), str(data.get("display", "")),
                    rtl=bool(data.get("rtl", False)), source=source)

    def take(key: str, value: Any) -> None:
        if isinstance(value, dict) and str(value.get("translation", "")):
            t.items[key] = str(value["translation"])

    for entry in data.get("formTranslations", []):
        take(item_key("form", str(entry.get("id")), "title"), entry.get("name"))
        take(item_key("form", str(entry.get("id")), "repeat_label"),
             entry.get("custom_form_label"))
    for entry in data.get("fieldTranslations", []):
        name = str(entry.get("id"))
        for part, mlm in FIELD_PARTS:
            take(item_key("field", name, part), entry.get(mlm))
        for choice in entry.get("enum", []) or []:
            take(item_key("field", name, "choice", str(choice.get("id"))), choice)
    return t


def load_mlm(path: str | PathLike[str]) -> Translation:
    p = Path(path)
    try:
        return read_mlm(p.read_bytes(), str(p))
    except OSError as exc:
        raise DictionaryError(f"cannot read translation: {exc.strerror or exc}",
                              file=str(p)) from None
