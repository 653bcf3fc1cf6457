"""REDCap's project-level missing data codes: the one parser, type and rules for them.

A project may declare codes that a data-entry person stores *instead of* a value, to say
why the value is absent (``UNK, Unknown``; ``NASK, Not asked``). REDCap keeps them in the
project settings ("Additional customizations" → "Missing Data Codes"), one ``code, label``
a line, and the API and Project XML carry them in two spellings of the same list:

- API project info (``content=project``): ``missing_data_codes`` = ``"UNK, Unknown | NASK,
  Not asked"`` (items joined by `` | ``);
- Project XML: ``<redcap:MissingDataCodes>`` in ``GlobalVariables``, one item a line.

Both are the choices syntax of a multiple-choice field, so they are read by
:func:`sgbm_redcap.dictionary.model.parse_choice_items` (the one reading of that cell).
A stored code is the literal value of the field (``[trop2_hscore] = 'ND'``). REDCap's rules
that this module is the home of (docs/dictionary.md, "Missing data codes"):

- a code has only letters, digits, ``.``, ``-`` and ``_`` and is written once;
- every data field accepts a code, except the record id field, descriptive fields, calc
  fields (and ``@CALCTEXT``/``@CALCDATE``, which REDCap computes) and fields whose annotation
  has ``@NOMISSING``; a record import therefore takes a code in such a field without the
  field's validation (an integer field stores ``UNK``);
- a checkbox field stores a code as one more option: the export has one extra column per
  code (``ec_mets___unk``) unless the field has ``@NOMISSING``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from sgbm_redcap.dictionary.model import Field, checkbox_column, parse_choice_items

#: REDCap's rule for a missing data code (its project-setup dialog refuses anything else).
CODE_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
#: the action tag that turns missing data codes off for one field
NOMISSING = "@NOMISSING"
#: field types that hold no entered value, so a code (and @NOMISSING) means nothing there
NO_VALUE_TYPES = frozenset({"descriptive", "calc"})
#: action tags that make REDCap compute the value (no data entry, no code)
COMPUTED_TAGS = frozenset({"@CALCTEXT", "@CALCDATE"})


@dataclass(frozen=True)
class MissingCodes:
    """The project's missing data codes: code → label, in the order the project lists them.

    Falsy when the project declares none (REDCap's feature is then off). ``value in codes``
    is :meth:`is_missing_code`."""

    items: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        labels: dict[str, str] = {}
        for code, label in self.items:  # a code written twice keeps its first label
            labels.setdefault(code, label)
        object.__setattr__(self, "_labels", labels)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[str]:
        return iter(self.codes)

    def __contains__(self, value: object) -> bool:
        return self.is_missing_code(value)

    @property
    def codes(self) -> tuple[str, ...]:
        """The distinct codes, in order."""
        return tuple(self._labels)  # type: ignore[attr-defined]

    @property
    def labels(self) -> dict[str, str]:
        """code → label (a copy, in order)."""
        return dict(self._labels)  # type: ignore[attr-defined]

    def label(self, code: str) -> str:
        """The label of ``code`` (``KeyError`` when it is not a code of the project)."""
        return self._labels[code]  # type: ignore[attr-defined,no-any-return]

    def is_missing_code(self, value: object) -> bool:
        """True when ``value`` is exactly one of the codes (REDCap compares the stored text
        as it is: ``unk`` is not ``UNK``, ``' UNK'`` is not a code)."""
        return isinstance(value, str) and value in self._labels  # type: ignore[attr-defined]

    def to_project_info(self) -> str:
        """The API's ``missing_data_codes`` value: ``"UNK, Unknown | NASK, Not asked"``."""
        return " | ".join(f"{code}, {label}" for code, label in self.items)

    def to_xml_text(self) -> str:
        """The Project XML's ``<redcap:MissingDataCodes>`` text: one ``code, label`` a line."""
        return "\n".join(f"{code}, {label}" for code, label in self.items)

    def problems(self) -> list[str]:
        """What REDCap's setup would refuse in this list, one message per problem."""
        out: list[str] = []
        seen: set[str] = set()
        for code, label in self.items:
            if not CODE_PATTERN.match(code):
                out.append(f"missing data code {code!r} may only have letters, numbers, "
                           "dots, dashes and underscores")
            if code in seen:
                out.append(f"missing data code {code!r} is declared twice")
            if not label:
                out.append(f"missing data code {code!r} has no label")
            seen.add(code)
        return out


NO_CODES = MissingCodes()


def parse_missing_codes(text: str | None) -> MissingCodes:
    """Read REDCap's missing data codes in either spelling (API ``" | "`` or Project XML one
    a line); ``""``/``None`` is no codes. Items are kept as written, so that
    :meth:`MissingCodes.problems` can report a code written twice (its first label counts)."""
    return MissingCodes(tuple((code, label) for code, label, _ in
                              parse_choice_items(text or "")))


def missing_codes_from(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> MissingCodes:
    """Codes from code → label pairs (``project.toml``'s ``[missing_data_codes]`` table),
    order kept; raises ``ValueError`` naming every problem REDCap would refuse."""
    items = tuple((str(c).strip(), str(lab).strip())
                  for c, lab in (pairs.items() if isinstance(pairs, Mapping) else pairs))
    codes = MissingCodes(items)
    problems = codes.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return codes


def has_nomissing(field: Field) -> bool:
    """True when the field's annotation carries ``@NOMISSING``."""
    return NOMISSING in field.action_tags


def accepts_missing_codes(field: Field, record_id: str = "") -> bool:
    """REDCap's rule for whether ``field`` can hold a missing data code (module docstring):
    not the record id field, not descriptive/calc/@CALCTEXT/@CALCDATE, no ``@NOMISSING``."""
    if field.name == record_id or field.field_type in NO_VALUE_TYPES:
        return False
    tags = set(field.action_tags)
    return not (tags & COMPUTED_TAGS) and NOMISSING not in tags


def nomissing_without_effect(field: Field, record_id: str = "") -> bool:
    """True when the field has ``@NOMISSING`` but could not hold a code without it either
    (the record id, descriptive/calc/@CALCTEXT/@CALCDATE fields): the tag is a mistake."""
    if not has_nomissing(field):
        return False
    plain = re.sub(r"@NOMISSING\b", "", field.annotation, flags=re.IGNORECASE)
    return not accepts_missing_codes(replace(field, annotation=plain), record_id)


def choices_taken_as_codes(field: Field, codes: MissingCodes, record_id: str = "") -> list[str]:
    """The choice codes of a field that are also missing data codes of the project: REDCap
    cannot tell such a stored answer from the missing data code (it is counted by rule I and
    read as missing by the pull). None in a field that takes no codes."""
    if not codes or not accepts_missing_codes(field, record_id):
        return []
    return [code for code in field.choices if codes.is_missing_code(code)]


def is_missing_code(value: object, codes: MissingCodes, field: Field | None = None) -> bool:
    """True when ``value`` is one of ``codes`` and (given a ``field``) the field accepts
    codes: in a ``@NOMISSING`` field ``UNK`` is an ordinary (probably invalid) value."""
    if field is not None and not accepts_missing_codes(field):
        return False
    return codes.is_missing_code(value)


def missing_code_columns(field: Field, codes: MissingCodes) -> list[str]:
    """The extra flat-export columns REDCap adds to a checkbox field for the codes
    (``name___unk`` …, named by :func:`checkbox_column`); none for other fields or when the
    field does not accept codes."""
    if field.field_type != "checkbox" or not accepts_missing_codes(field):
        return []
    return [checkbox_column(field.name, code) for code in codes]
