"""The rule registry: every check is declared here once, with its id, severity, target and
message, so that ``sgbm-redcap checks list``, ``docs/checks.md`` and the query ids all come
from the same declaration.

A rule's *predicate* is a function ``(CheckContext) -> DataFrame`` returning one row per hit
with at least ``record_id`` and ``instance`` (0 for a non-repeating form) and, when the rule
targets more than one field, ``form`` and ``field``. Extra columns (``value`` and any
placeholder of the message template) are used to render the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sgbm_redcap.errors import CheckDefinitionError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from sgbm_redcap.checks.context import CheckContext

Severity = Literal["error", "warning"]
SEVERITIES: tuple[str, ...] = ("error", "warning")
CATEGORIES: tuple[str, ...] = ("dictionary", "eligibility", "dates", "treatment", "response",
                               "follow-up", "safety")

_RULE_ID = re.compile(r"^[A-Z]{2,6}-[0-9A-Z]{1,4}$")

Predicate = Callable[["CheckContext"], "pd.DataFrame"]


@dataclass(frozen=True)
class Rule:
    """One declared check.

    ``form``/``field`` name the target; ``"*"`` means the rule applies to any field of the
    dictionary (the generic rules) and the predicate names the field of each hit.
    ``instance`` says whether the hit points at an instance of a repeating form.
    ``message`` is a ``str.format`` template in the study's words; placeholders are columns
    of the predicate's result (``{value}``, ``{field}``, ``{form}`` always available).
    """

    rule_id: str
    title: str
    severity: Severity
    category: str
    form: str
    field: str
    message: str
    doc: str
    predicate: Predicate = field(repr=False, compare=False)
    repeating: bool = False
    #: the rule reads the data dictionary; without one it is not run (and its queries are
    #: left as they are)
    needs_dictionary: bool = False

    def __post_init__(self) -> None:
        if not _RULE_ID.match(self.rule_id):
            raise CheckDefinitionError(
                f"rule id {self.rule_id!r} must look like 'DATE-3' or 'DQ-B'", rule_id=self.rule_id
            )
        if self.severity not in SEVERITIES:
            raise CheckDefinitionError(
                f"severity {self.severity!r} is not one of {SEVERITIES}", rule_id=self.rule_id
            )
        if self.category not in CATEGORIES:
            raise CheckDefinitionError(
                f"category {self.category!r} is not one of {CATEGORIES}", rule_id=self.rule_id
            )
        if not self.message.strip() or not self.doc.strip():
            raise CheckDefinitionError("a rule needs a message and a doc", rule_id=self.rule_id)

    @property
    def target(self) -> str:
        where = f"{self.form}.{self.field}"
        return f"{where}[instance]" if self.repeating else where


class RuleRegistry:
    """An ordered collection of rules; ids are unique."""

    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def add(self, rule: Rule) -> Rule:
        if rule.rule_id in self._rules:
            raise CheckDefinitionError(f"rule {rule.rule_id} declared twice", rule_id=rule.rule_id)
        self._rules[rule.rule_id] = rule
        return rule

    def rule(
        self,
        rule_id: str,
        *,
        title: str,
        severity: Severity,
        category: str,
        form: str,
        field: str,
        message: str,
        repeating: bool = False,
        needs_dictionary: bool = False,
    ) -> Callable[[Predicate], Predicate]:
        """Decorator: declare the decorated predicate as a rule; its docstring is the doc."""

        def decorate(func: Predicate) -> Predicate:
            doc = " ".join((func.__doc__ or "").split())
            self.add(Rule(rule_id, title, severity, category, form, field, message, doc, func,
                          repeating, needs_dictionary))
            return func

        return decorate

    def __iter__(self):
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def get(self, rule_id: str) -> Rule:
        try:
            return self._rules[rule_id]
        except KeyError:
            raise CheckDefinitionError(f"no rule {rule_id!r}", rule_id=rule_id) from None

    def select(self, ids: Iterable[str] | None = None, categories: Iterable[str] | None = None
               ) -> list[Rule]:
        ids_set = set(ids) if ids is not None else None
        cats = set(categories) if categories is not None else None
        if ids_set:
            unknown = ids_set - set(self._rules)
            if unknown:
                raise CheckDefinitionError(f"unknown rule ids: {sorted(unknown)}")
        return [
            r for r in self._rules.values()
            if (ids_set is None or r.rule_id in ids_set) and (cats is None or r.category in cats)
        ]


#: The study's rules. Importing ``sgbm_redcap.checks`` fills it.
REGISTRY = RuleRegistry()


def render_markdown(rules: Iterable[Rule], *, appendix: str | None = None) -> str:
    """The rule catalogue as Markdown (``docs/checks.md`` is this text). ``appendix`` follows
    the rules; default: the REDCap-compatible Data Quality mode's page
    (``checks.redcap_dq.MARKDOWN``)."""
    if appendix is None:
        from sgbm_redcap.checks.redcap_dq import MARKDOWN as appendix
    lines = [
        "# Data checks",
        "",
        "Generated from the rule registry (`sgbm_redcap/checks/`) by",
        "`sgbm-redcap checks list --markdown`; `tests/test_checks_registry.py` fails when it",
        "is out of date. Each finding becomes a data query whose id is",
        "`rule:record:form:instance:field` (instance 0 for a non-repeating form).",
        "",
    ]
    by_cat: dict[str, list[Rule]] = {}
    for r in rules:
        by_cat.setdefault(r.category, []).append(r)
    for cat in CATEGORIES:
        if cat not in by_cat:
            continue
        lines += [f"## {cat.capitalize()}", "", "| id | severity | target | title |",
                  "|---|---|---|---|"]
        for r in by_cat[cat]:
            lines.append(f"| `{r.rule_id}` | {r.severity} | `{r.target}` | {r.title} |")
        lines.append("")
        for r in by_cat[cat]:
            lines += [f"### {r.rule_id}: {r.title}", "", r.doc, "",
                      f"Message to the site: *{r.message}*", ""]
    if appendix:
        lines += ["", appendix.strip()]
    return "\n".join(lines).rstrip() + "\n"
