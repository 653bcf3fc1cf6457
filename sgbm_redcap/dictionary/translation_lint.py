"""Lint a project's translations (REDCap Multi-Language Management) against its dictionary.

Rules (ids as in ``sgbm-redcap dictionary lint``):

- ``translation-missing``: an instrument title, repeating-instance label, field label, note
  or section header has no translation;
- ``translation-orphan``: a translation names a form, field or part the dictionary lacks
  (REDCap would drop it silently on import);
- ``translation-choice-codes``: a field's translated choice codes are not exactly its codes;
- ``translation-piping``: a piped reference (``[field]``, ``[event][field]``,
  ``[field:label]``) of the English is lost, or one is added;
- ``translation-html``: HTML tags unbalanced, or not the tags of the English;
- ``translation-stale``: the MLM language file is not what ``build_translations.py`` writes
  from its readable source;
- ``translation-unreadable``: a translation file cannot be read, or is for another language.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from sgbm_redcap.dictionary.lint import ERROR, Issue, LintReport, Rule
from sgbm_redcap.dictionary.translation import (
    EnglishItem,
    Translation,
    load_mlm,
    load_source,
    mlm_json,
    project_english,
    split_key,
)
from sgbm_redcap.errors import DictionaryError

GENERATOR = "redcap_project/build_translations.py"

TRANSLATION_RULES: dict[str, Rule] = {r.id: r for r in (
    Rule("translation-missing", ERROR, "item without a translation",
         "Translate it in the language's .toml source, then run build_translations.py."),
    Rule("translation-orphan", ERROR, "translation of an item the dictionary does not have",
         "Remove it, or rename it to the field/form it belongs to (REDCap ignores it)."),
    Rule("translation-choice-codes", ERROR, "translated choice codes differ from the field's",
         "Use exactly the dictionary's codes; never re-code a choice in a translation."),
    Rule("translation-piping", ERROR, "piped [field] reference lost or added",
         "Keep every [field] reference of the English, unchanged, and add none."),
    Rule("translation-html", ERROR, "HTML tags unbalanced or not those of the English",
         "Keep the English's tags, each one closed."),
    Rule("translation-stale", ERROR, "MLM language file not built from its source",
         "Run .venv/bin/python redcap_project/build_translations.py and commit both files."),
    Rule("translation-unreadable", ERROR, "translation file cannot be read or is for another "
         "language", "Fix the file (valid TOML / MLM JSON) and its language id."),
)}

#: a piped reference: [name], [event][name], [name:label], [name(code)], [name][instance]
_PIPE = re.compile(r"\[[A-Za-z][A-Za-z0-9_\-:()]*\]")
_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z][A-Za-z0-9]*)\b[^<>]*?(/?)\s*>")
#: HTML elements REDCap labels use; anything else in angle brackets (``<site>``) is text
_HTML = frozenset({"a", "b", "big", "blockquote", "br", "center", "code", "div", "em",
                   "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol",
                   "p", "pre", "s", "small", "span", "strong", "sub", "sup", "table", "tbody",
                   "td", "th", "thead", "tr", "u", "ul"})
_VOID = frozenset({"br", "hr", "img"})


def piped(text: str) -> Counter[str]:
    """The piped references of a label, counted."""
    return Counter(_PIPE.findall(text or ""))


def html_tags(text: str) -> tuple[Counter[str], bool]:
    """(tag names used, balanced?) of the HTML elements in ``text``."""
    names: Counter[str] = Counter()
    stack: list[str] = []
    balanced = True
    for closing, name, self_closing in _TAG.findall(text or ""):
        name = name.lower()
        if name not in _HTML:
            continue
        if not closing:
            names[name] += 1
        if name in _VOID or self_closing:
            continue
        if not closing:
            stack.append(name)
        elif stack and stack[-1] == name:
            stack.pop()
        else:
            balanced = False
    return names, balanced and not stack


def generated_mlm(project: Any, spec: Any) -> str:
    """What ``build_translations.py`` writes for one ``[[languages]]`` entry."""
    source = load_source(Path(project.path) / spec.source)
    return mlm_json(source, project.dictionary, english=project_english(project),
                    generator=GENERATOR)


def lint_translation(t: Translation, english: dict[str, EnglishItem], *,
                     file: str = "") -> list[Issue]:
    """Every translation rule over one loaded translation (items compared key by key)."""
    issues: list[Issue] = []

    def add(rule: str, item: EnglishItem | None, key: str, message: str) -> None:
        kind, name, part, code = split_key(key)
        issues.append(Issue(rule, TRANSLATION_RULES[rule].severity, item.row if item else 1,
                            f"{part} {code}".strip(), name if kind == "field" else "",
                            message, TRANSLATION_RULES[rule].hint, file))

    for key, item in english.items():
        text = t.items.get(key, "").strip()
        part = split_key(key)[2]
        if not text:
            if part == "choice":
                add("translation-choice-codes", item, key,
                    f"choice code {split_key(key)[3]} ({item.text!r}) has no translation")
            else:
                add("translation-missing", item, key, f"{item.text!r} is not translated")
            continue
        if piped(text) != piped(item.text):
            lost = sorted((piped(item.text) - piped(text)).elements())
            extra = sorted((piped(text) - piped(item.text)).elements())
            add("translation-piping", item, key, "; ".join(
                x for x in (f"lost {' '.join(lost)}" if lost else "",
                            f"added {' '.join(extra)}" if extra else "") if x))
        tags, balanced = html_tags(text)
        if not balanced or tags != html_tags(item.text)[0]:
            add("translation-html", item, key,
                "tags not balanced" if not balanced else
                f"tags {sorted(tags.elements())} instead of "
                f"{sorted(html_tags(item.text)[0].elements())}")
    for key in t.items:
        if key in english:
            continue
        kind, name, part, code = split_key(key)
        same_field = [e for k, e in english.items() if k.startswith(f"field:{name}:")]
        if part == "choice" and same_field:
            add("translation-choice-codes", same_field[0], key,
                f"code {code} is not a choice of the field")
        else:
            add("translation-orphan", same_field[0] if same_field else None, key,
                f"{kind} {name!r} has no {part}{' ' + code if code else ''} in the "
                "dictionary")
    return issues


def lint_translations(project: Any) -> list[LintReport]:
    """One report per ``[[languages]]`` file of a project: its rules, and that the MLM file
    is the one built from the readable source."""
    english = project_english(project)
    reports = []
    for spec in project.languages:
        path = Path(project.path) / spec.mlm
        # logic_parser: no logic in a translation, so nothing was checked without the parser
        report = LintReport(file=str(path), n_fields=len(project.dictionary), logic_parser=True)
        rule = TRANSLATION_RULES["translation-unreadable"]
        try:
            t = load_mlm(path)
        except DictionaryError as exc:
            report.issues.append(Issue(rule.id, rule.severity, 1, "", "", str(exc), rule.hint,
                                       str(path)))
            reports.append(report)
            continue
        if t.language != spec.id:
            report.issues.append(Issue(rule.id, rule.severity, 1, "key", "",
                                       f"the file is for {t.language!r}, project.toml names "
                                       f"it for {spec.id!r}", rule.hint, str(path)))
        report.issues.extend(lint_translation(t, english, file=str(path)))
        if spec.source:
            report.issues.extend(_stale(project, spec, path))
        reports.append(report)
    return reports


def _stale(project: Any, spec: Any, path: Path) -> list[Issue]:
    rule = TRANSLATION_RULES["translation-stale"]
    try:
        expected = generated_mlm(project, spec)
    except DictionaryError as exc:
        unreadable = TRANSLATION_RULES["translation-unreadable"]
        return [Issue(unreadable.id, unreadable.severity, exc.row or 1, exc.column or "", "",
                      str(exc), unreadable.hint, exc.file or spec.source)]
    if path.read_text(encoding="utf-8") != expected:
        return [Issue(rule.id, rule.severity, 1, "", "", f"{spec.mlm} differs from what "
                      f"{spec.source} builds", rule.hint, str(path))]
    return []
