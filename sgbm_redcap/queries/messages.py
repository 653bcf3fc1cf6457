"""Query messages in the site's language, with the English for the monitor.

A query the sweep posts to a site whose language (``language`` of its DAG in project.toml)
is not the CRF's default holds **one** ``dq_message``: the site's language first, then the
English on its own line after ``[EN]``. One field rather than two: a query is one message,
the two texts are written together and can never drift apart, a site answering in REDCap
sees both on the one screen, and no dictionary change (a new field on every project) is
needed. :func:`message_in` takes either part back for a listing.

The site-language text comes from the translation's query templates
(``translations/queries.<lang>.toml``: one ``str.format`` template per rule id with the
placeholders of the rule's English template). The values are read back from the English
message the checks rendered (the English template as a pattern), ``{label}`` becomes the
field's label in the CRF translation; a rule without a template, or a message that does not
match its template, is posted in English only.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from sgbm_redcap.dictionary.load import read_toml

#: what separates the site-language text from the English in a bilingual dq_message
ENGLISH_MARK = "\n[EN] "


def bilingual(local: str, english: str) -> str:
    """``local`` then the English (English alone when there is no other text)."""
    local, english = (local or "").strip(), (english or "").strip()
    return f"{local}{ENGLISH_MARK}{english}" if local and local != english else english


def message_in(text: str, language: str, default_language: str = "en") -> str:
    """The part of a (possibly bilingual) message a reader of ``language`` sees."""
    text = text or ""
    if ENGLISH_MARK not in text:
        return text
    local, english = text.split(ENGLISH_MARK, 1)
    return english if language == default_language else local


def placeholders(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in
            string.Formatter().parse(template) if name}


@lru_cache(maxsize=256)
def _pattern(template: str) -> re.Pattern[str]:
    """The English template as a pattern that reads its values back."""
    parts, seen = [], set()
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name:
            key = name.split(".")[0].split("[")[0]
            parts.append(f"(?P={key})" if key in seen else f"(?P<{key}>.*?)")
            seen.add(key)
    return re.compile("^" + "".join(parts) + "$", re.S)


def translate(english_template: str, local_template: str, message: str,
              labels: dict[str, str] | None = None, field: str = "") -> str | None:
    """``message`` (rendered from ``english_template``) in the local template, or None when
    it does not match."""
    match = _pattern(english_template).match(message or "")
    if match is None:
        return None
    values: dict[str, Any] = dict(match.groupdict())
    if "label" in values and field and (labels or {}).get(field):
        values["label"] = labels[field]  # type: ignore[index]
    try:
        return local_template.format(**values)
    except (KeyError, IndexError, ValueError):
        return None


def load_templates(path: str | Path) -> dict[str, str]:
    """``[messages]`` of a ``queries.<lang>.toml``: rule id → template."""
    data = read_toml(path, what="query message templates", name=Path(path).name)
    return {str(k): str(v) for k, v in data.get("messages", {}).items()}


Localiser = Callable[[pd.DataFrame], pd.DataFrame]


def localiser(project: Any, rules: Any = None) -> Localiser | None:
    """A function that rewrites a findings frame's messages for the sites whose language is
    not the default (bilingual, :func:`bilingual`); None when no site has another language.
    ``rules`` (default: the checks registry) gives each rule's English template."""
    if rules is None:
        from sgbm_redcap.checks import REGISTRY as rules
    english = {r.rule_id: r.message for r in rules}
    by_language: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    for spec in getattr(project, "languages", []):
        if spec.id in set(project.dag_languages.values()) and getattr(spec, "queries", ""):
            t = project.translation(spec.id)
            labels = {name: t.field_text(name, "label") for name in
                      (f.name for f in project.dictionary.fields)} if t else {}
            by_language[spec.id] = (load_templates(Path(project.path) / spec.queries), labels)
    if not by_language:
        return None

    def localise(findings: pd.DataFrame) -> pd.DataFrame:
        if not len(findings):
            return findings
        out = findings.copy()
        langs = out["dag"].astype(str).map(project.dag_language)
        messages = []
        for lang, row in zip(langs, out.itertuples(index=False), strict=True):
            templates, labels = by_language.get(lang, ({}, {}))
            local = templates.get(row.rule_id)
            text = translate(english.get(row.rule_id, ""), local, row.message, labels,
                             row.field) if local else None
            messages.append(bilingual(text, row.message) if text else row.message)
        out["message"] = messages
        return out

    return localise
