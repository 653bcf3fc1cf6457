"""Every branching and calc expression of the real-world corpus parses, or is recorded here as
genuinely invalid REDCap logic."""

from __future__ import annotations

from functools import cache

from corpus import CORPUS_DICTS

from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.logic import LogicSyntaxError, check, parse, to_text

CORPUS = CORPUS_DICTS

#: (file, field, column) -> why REDCap itself would reject the logic.
KNOWN_INVALID: dict[tuple[str, str, str], str] = {
    (
        "032_ISARICResearch_arcmapper_CCPUKSARIEastMidlands_DataDictionary_2022-06-06.csv",
        "pregyn_rptestcd",
        "branching",
    ): "'> =' with a space is not an operator",
    ("123_umg-minai_cvc-coating_pilot-data_dictionary.csv", "measurement_us_time1", "branching"):
        "the branching logic is the bare word 'y'",
    ("123_umg-minai_cvc-coating_pilot-data_dictionary.csv", "measurement_us_time2", "branching"):
        "the branching logic is the bare word 'y'",
}


@cache
def corpus_expressions() -> list[tuple[str, str, str, str, object]]:
    """(file, field, column, text, dictionary) for every non-empty branching/calc cell."""
    out = []
    for path in sorted(CORPUS.glob("*.csv")):
        d = load_dictionary(path)
        for f in d.fields:
            if f.branching_logic.strip():
                out.append((path.name, f.name, "branching", f.branching_logic, d))
            if f.field_type == "calc" and f.choices_raw.strip():
                out.append((path.name, f.name, "calc", f.choices_raw, d))
    return out




def test_known_invalid_files_exist() -> None:
    names = {p.name for p in CORPUS.glob("*.csv")}
    assert {k[0] for k in KNOWN_INVALID} <= names


def test_every_corpus_expression_parses_or_is_known_invalid() -> None:
    exprs = corpus_expressions()
    failures = {}
    for file, field, column, text, _ in exprs:
        try:
            e = parse(text)
        except LogicSyntaxError as err:
            failures[(file, field, column)] = err.reason
            assert 0 <= err.offset <= len(text)
            continue
        assert parse(to_text(e)) == e, (file, field, text)
    assert set(failures) == set(KNOWN_INVALID), failures
    # The corpus is large enough for the rate to mean something.
    assert len(exprs) > 5000
    rate = 1 - len(failures) / len(exprs)
    assert rate > 0.999


def test_check_runs_over_the_corpus_and_finds_real_problems() -> None:
    """check() never raises on real dictionaries; most logic refers to real fields."""
    total = clean = 0
    kinds: set[str] = set()
    for file, _field, _column, text, d in corpus_expressions():
        if (file, _field, _column) in KNOWN_INVALID:
            continue
        problems = check(parse(text), d)
        total += 1
        clean += not problems
        kinds |= {p.kind for p in problems}
    assert clean / total > 0.9
    assert kinds <= {"unknown_field", "not_checkbox", "unknown_choice", "unknown_function",
                     "unknown_smart_variable", "unknown_modifier"}
