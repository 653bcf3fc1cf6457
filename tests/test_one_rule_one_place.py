"""Each REDCap rule has one implementation (issue 12 item 3): grep the package for the
definitions, so a second copy cannot come back unnoticed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sgbm_redcap"

#: rule -> (where it lives, a pattern matching a definition of it)
RULES = {
    "checkbox column naming": ("dictionary/model.py", r"^\s*def \w*checkbox_column\("),
    "choice parsing": ("dictionary/model.py", r"^\s*def \w*parse_choice\w*\("),
    "natural record order": ("dictionary/model.py",
                             r"^\s*def \w*(natural|record_sort|record_order|sort_key)\w*\("),
    "context table": ("logic/context.py", r"^\s*def \w*(context_table|from_base)\w*\("),
    "Project XML reader": ("dictionary/odm.py",
                           r"""find\w*\(\s*["'][^"']*MetaDataVersion"""),
    # reading a missing data code list, and whether a value/field is (takes) a code
    "missing data codes": ("dictionary/missing.py",
                           r"^\s*def \w*(missing_code|nomissing)\w*\("),
    # sessions, adapters and retry policies: what makes an HTTP client to REDCap
    "REDCap HTTP transport": ("source/client.py",
                              r"requests\.Session\(|HTTPAdapter\)|\bRetry\(|Retrying\("),
}
#: rules whose one implementation has more than one matching line (in its one home)
MANY_LINES = {"choice parsing", "REDCap HTTP transport", "missing data codes"}


def test_no_pattern_extracts_field_references_from_logic() -> None:
    """Field references come from the parser's AST (logic.refs); a pattern over logic text
    that captures a bracketed name is a second reading of the grammar."""
    rx = re.compile(r"""re\.(compile|findall|finditer|search|match)\(\s*r?["'][^"']*\\\[""")
    allowed = {"logic/parser.py",       # the grammar itself
               "dictionary/lint.py",    # _PIPED: a piped min/max bound, not logic
               # _PIPE: piped [refs] of a label and its translation compared as text
               "dictionary/translation_lint.py",
               "sandbox/protocol.py"}   # fields[0]=... form keys, not logic
    found = sorted({str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                    if rx.search(p.read_text(encoding="utf-8"))})
    assert set(found) <= allowed, found


def _definitions(pattern: str) -> list[str]:
    rx = re.compile(pattern, re.MULTILINE)
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        out += [f"{path.relative_to(PACKAGE)}:{text.count(chr(10), 0, m.start()) + 1}"
                for m in rx.finditer(text)]
    return out


@pytest.mark.parametrize("rule", sorted(RULES))
def test_one_definition(rule: str) -> None:
    home, pattern = RULES[rule]
    found = _definitions(pattern)
    assert found and all(f.startswith(home + ":") for f in found), (rule, found)
    if rule not in MANY_LINES:
        assert len(found) == 1, (rule, found)


def test_choice_parsing_is_one_reading_of_the_cell() -> None:
    # parse_choice_items reads the cell; parse_choices is its (code, label) view
    found = _definitions(RULES["choice parsing"][1])
    assert len(found) == 2, found
    text = (PACKAGE / "dictionary/model.py").read_text(encoding="utf-8")
    assert "in parse_choice_items(text)]" in text
