"""Semantics of evaluation (docs/logic.md), checked on both evaluators, plus check() and
form_context()."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd
import pytest

from sgbm_redcap.errors import LogicError
from sgbm_redcap.logic import Evaluator, check, evaluate, evaluate_rowwise, parse
from sgbm_redcap.logic.context import form_context

TODAY = date(2026, 1, 15)
NOW = datetime(2026, 1, 15, 12, 0, 0)

Run = Callable[..., list[Any]]


@pytest.fixture(params=["vectorised", "rowwise"])
def run(request: pytest.FixtureRequest) -> Run:
    fn = evaluate if request.param == "vectorised" else evaluate_rowwise

    def _run(text: str, table: pd.DataFrame, **kw: Any) -> list[Any]:
        kw.setdefault("today", TODAY)
        kw.setdefault("now", NOW)
        return fn(parse(text), table, **kw).tolist()

    return _run


def flat(**columns: list[str]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"record_id": [str(i + 1) for i in range(n)], **columns})


def same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(
        (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        or x == y
        for x, y in zip(a, b, strict=True)
    )


# -- blanks, numbers, text -------------------------------------------------------------------

def test_blank_equals_only_blank(run: Run) -> None:
    t = flat(a=["", "0", "1", "abc"])
    assert run("[a] = ''", t) == [True, False, False, False]
    assert run("[a] <> ''", t) == [False, True, True, True]
    assert run("[a] = 0", t) == [False, True, False, False]
    assert run("[a] <> 0", t) == [True, False, True, True]


def test_blank_in_an_ordering_comparison_is_false(run: Run) -> None:
    t = flat(a=["", "5", "20"])
    assert run("[a] < 10", t) == [False, True, False]
    assert run("[a] >= 10", t) == [False, False, True]


def test_numeric_strings_compare_as_numbers(run: Run) -> None:
    t = flat(a=["1", "1.0", "01", " 1 ", "1a", "10"])
    assert run("[a] = '1'", t) == [True, True, True, True, False, False]
    assert run("[a] = 1", t) == [True, True, True, True, False, False]
    # "10" > "9" numerically although "10" < "9" as text
    assert run("[a] > '9'", t) == [False, False, False, False, False, True]


def test_non_numeric_text_compares_as_text_case_sensitively(run: Run) -> None:
    t = flat(a=["abc", "ABC", "abd", ""])
    assert run("[a] = 'abc'", t) == [True, False, False, False]
    assert run("[a] < 'abd'", t) == [True, True, False, False]


def test_blank_in_arithmetic_gives_blank(run: Run) -> None:
    t = flat(a=["2", "", "x", "4"], b=["3", "3", "3", "0"])
    got = run("[a] * [b] + 1", t)
    assert got[0] == 7.0 and math.isnan(got[1]) and math.isnan(got[2]) and got[3] == 1.0
    div = run("[a] / [b]", t)
    assert math.isnan(div[3])  # division by zero is blank


def test_logic_result_is_boolean_and_blank_is_false(run: Run) -> None:
    t = flat(a=["1", "", "0", "x"])
    assert run("[a]", t, as_="bool") == [True, False, False, True]
    assert run("not [a]", t) == [False, True, True, False]
    assert run("[a] and 1", t) == [True, False, False, True]


def test_power_and_unary_minus(run: Run) -> None:
    t = flat(a=["2", "-8", ""])
    got = run("-[a] ^ 2", t)
    assert got[0] == -4.0 and got[1] == -64.0 and math.isnan(got[2])
    root = run("[a] ^ 0.5", t)
    assert root[0] == pytest.approx(math.sqrt(2)) and math.isnan(root[1])


# -- checkboxes, labels -----------------------------------------------------------------------

def test_checkbox_options_and_blank_checkbox_cells(run: Run) -> None:
    t = flat(ec_mets___1=["1", "0", ""], ec_mets___2=["0", "1", ""])
    assert run("[ec_mets(1)] = '1'", t) == [True, False, False]
    assert run("[ec_mets(2)] = '0'", t) == [True, False, True]
    assert run("[ec_mets:checked]", t) == ["1", "2", ""]


def test_negative_checkbox_code_uses_the_export_column(run: Run) -> None:
    t = flat(sym___1=["0", "0"], sym____99=["1", "0"])
    assert run("[sym(-99)] = '1'", t) == [True, False]


@dataclass
class _Field:
    name: str
    field_type: str
    choices: dict[str, str] = field(default_factory=dict)
    form: str = "f"


class _Dictionary:
    def __init__(self, *fields: _Field):
        self.fields = list(fields)
        self.forms = sorted({f.form for f in fields})

    def get(self, name: str) -> _Field | None:
        return next((f for f in self.fields if f.name == name), None)


DICT = _Dictionary(
    _Field("record_id", "text"),
    _Field("sex", "radio", {"1": "Female", "2": "Male"}),
    _Field("ec_mets", "checkbox", {"1": "Liver", "2": "Lung"}),
    _Field("ae_grade", "dropdown", {str(k): str(k) for k in range(1, 6)}, form="ae"),
    _Field("eligible", "yesno", {"1": "Yes", "0": "No"}),
    _Field("ia_sld", "text", form="ia"),
)


def test_label_modifier_uses_the_dictionary(run: Run) -> None:
    t = flat(sex=["1", "2", ""], ec_mets___1=["1", "0", "0"], ec_mets___2=["1", "1", "0"])
    assert run("[sex:label]", t, dictionary=DICT) == ["Female", "Male", ""]
    assert run("[sex:label] = 'Male'", t, dictionary=DICT) == [False, True, False]
    assert run("[ec_mets:checked]", t, dictionary=DICT) == ["Liver, Lung", "Lung", ""]
    assert run("[ec_mets:unchecked]", t, dictionary=DICT) == ["", "Liver", "Liver, Lung"]


def test_unknown_column_is_an_error(run: Run) -> None:
    with pytest.raises(LogicError, match="not a column"):
        run("[nope] = 1", flat(a=["1"]))
    with pytest.raises(LogicError, match="checkbox column"):
        run("[a(1)] = 1", flat(a=["1"]))


# -- dates ----------------------------------------------------------------------------------------

def test_datediff_units_sign_and_blanks(run: Run) -> None:
    t = flat(d1=["2024-01-01", "2024-03-01", "", "2024-02-30"],
             d2=["2024-01-31", "2024-01-01", "2024-01-01", "2024-03-01"])
    d = run("datediff([d1], [d2], 'd')", t)
    assert d[:2] == [30.0, 60.0] and math.isnan(d[2]) and math.isnan(d[3])
    signed = run("datediff([d1], [d2], 'd', true)", t)
    assert signed[:2] == [30.0, -60.0]
    legacy = run("datediff([d1], [d2], 'd', 'ymd', true)", t)
    assert legacy[:2] == [30.0, -60.0]
    hours = run("datediff([d1], [d2], 'h')", t)
    assert hours[0] == 720.0
    years = run("datediff('2000-01-01', '2001-01-01', 'y')", t)
    assert years[0] == pytest.approx(366 / 365.2425)
    months = run("datediff('2000-01-01', '2000-03-01', 'M')", t)
    assert months[0] == pytest.approx(60 / 30.44)


def test_datediff_today_and_now_are_injectable(run: Run) -> None:
    t = flat(birth=["2008-01-15", "2008-01-16"])
    assert run("datediff([birth], 'today', 'y') >= 18", t) == [True, False]
    got = run("datediff('2026-01-15 06:00', 'now', 'h', true)", t)
    assert got == [6.0, 6.0]


def test_datediff_other_date_orders(run: Run) -> None:
    t = flat(d=["31-12-2023", "2023-12-31"])
    assert run("datediff([d], '2024-01-31', 'd', 'dmy')", t) == [31.0, 31.0]


def test_date_parts_and_calcdate(run: Run) -> None:
    t = flat(d=["2024-02-29", "", "2023-12-31 23:30"])
    got = run("year([d]) * 10000 + month([d]) * 100 + day([d])", t)
    assert got[0] == 20240229.0 and math.isnan(got[1]) and got[2] == 20231231.0
    assert run("calcdate([d], 1, 'd')", t) == ["2024-03-01", "", "2024-01-01 23:30"]
    assert run("calcdate([d], 2, 'h')", t) == ["2024-02-29 02:00", "", "2024-01-01 01:30"]


# -- functions --------------------------------------------------------------------------------------

def test_if_chooses_per_row_and_keeps_number_kind(run: Run) -> None:
    t = flat(a=["1", "2", ""])
    got = run("if([a] = 1, 10, [a] * 100)", t)
    assert got[:2] == [10.0, 200.0] and math.isnan(got[2])
    assert run("if([a] = '', 'missing', 'ok')", t) == ["ok", "ok", "missing"]


def test_if_short_circuit_is_not_needed_because_nothing_raises(run: Run) -> None:
    # The untaken branch would divide by zero / read a date from text: still a clean result.
    t = flat(a=["0", "2"])
    got = run("if([a] = 0, -1, 10 / [a])", t)
    assert got == [-1.0, 5.0]


def test_rounding(run: Run) -> None:
    t = flat(x=["2.5", "-2.5", "1.234", "1.235", ""])
    r = run("round([x])", t)
    assert r[:2] == [3.0, -3.0] and math.isnan(r[4])
    assert run("round([x], 2)", t)[2] == 1.23
    assert run("roundup([x], 1)", t)[2] == 1.3
    assert run("rounddown([x], 1)", t)[3] == 1.2
    assert run("rounddown([x])", t)[1] == -2.0


def test_aggregates_ignore_blanks(run: Run) -> None:
    t = flat(a=["1", "", ""], b=["3", "4", ""], c=["5", "x", ""])
    assert same(run("sum([a], [b], [c])", t), [9.0, 4.0, math.nan])
    assert same(run("mean([a], [b], [c])", t), [3.0, 4.0, math.nan])
    assert same(run("min([a], [b], [c])", t), [1.0, 4.0, math.nan])
    assert same(run("max([a], [b], [c])", t), [5.0, 4.0, math.nan])
    assert same(run("median([a], [b], [c], 100)", t), [4.0, 52.0, 100.0])
    assert same(run("stdev([a], [b], [c])", t), [2.0, math.nan, math.nan])


def test_math_functions(run: Run) -> None:
    t = flat(x=["16", "-4", ""])
    assert same(run("sqrt([x])", t), [4.0, math.nan, math.nan])
    assert same(run("abs([x])", t), [16.0, 4.0, math.nan])
    assert same(run("mod([x], 3)", t), [1.0, -1.0, math.nan])
    assert same(run("log([x], 2)", t), [4.0, math.nan, math.nan])
    assert run("exponential(0)", t)[0] == 1.0
    assert same(run("mod([x], 0)", t), [math.nan] * 3)


def test_text_functions(run: Run) -> None:
    t = flat(s=["Hello World", "", "abc"])
    assert run("contains([s], 'WORLD')", t) == [True, False, False]
    assert run("not_contain([s], 'world')", t) == [False, True, True]
    assert run("starts_with([s], 'he')", t) == [True, False, False]
    assert run("ends_with([s], 'BC')", t) == [False, False, True]
    assert run("left([s], 5)", t) == ["Hello", "", "abc"]
    assert run("right([s], 2)", t) == ["ld", "", "bc"]
    assert run("mid([s], 7, 3)", t) == ["Wor", "", ""]
    assert run("length([s])", t) == [11.0, 0.0, 3.0]
    assert run("find('o', [s])", t) == [5.0, 0.0, 0.0]
    assert run("upper([s])", t) == ["HELLO WORLD", "", "ABC"]
    assert run("trim(concat(' ', [s], ' '))", t) == ["Hello World", "", "abc"]
    assert run("concat_ws('-', [s], 'x', '')", t) == ["Hello World-x", "x", "abc-x"]
    assert run("replace_text([s], 'l', 'L')", t) == ["HeLLo WorLd", "", "abc"]


def test_isnumber_isinteger(run: Run) -> None:
    t = flat(x=["3", "3.5", "abc", "", "-2"])
    assert run("isnumber([x])", t) == [True, True, False, False, True]
    assert run("isinteger([x])", t) == [True, False, False, False, True]


def test_missing_codes(run: Run) -> None:
    t = flat(x=["", "NA", "UNK", "4"])
    kw = {"missing_codes": ["NA", "UNK"]}
    assert run("isblankormissingcode([x])", t, **kw) == [True, True, True, False]
    assert run("isblanknotmissingcode([x])", t, **kw) == [True, False, False, False]
    assert run("hasmissingcode([x])", t, **kw) == [False, True, True, False]


# -- longitudinal and repeating tables -------------------------------------------------------------

REPEATING = pd.DataFrame(
    {
        "record_id": ["1", "1", "1", "1", "2", "2"],
        "redcap_repeat_instrument": ["", "ia", "ia", "ia", "", "ia"],
        "redcap_repeat_instance": ["", "1", "2", "3", "", "1"],
        "eligible": ["1", "", "", "", "0", "", ],
        "ia_sld": ["", "50", "40", "60", "", "30"],
    }
)


def test_instance_references(run: Run) -> None:
    t = REPEATING
    assert run("[ia_sld][2]", t) == ["40", "40", "40", "40", "", ""]
    assert run("[ia_sld][previous-instance]", t) == ["", "", "50", "40", "", ""]
    # a base row counts as instance 1, so its next instance is 2
    assert run("[ia_sld][next-instance]", t) == ["40", "40", "60", "", "", ""]
    assert run("[ia_sld][last-instance]", t) == ["60", "60", "60", "60", "30", "30"]
    assert run("[ia_sld][first-instance]", t) == ["50", "50", "50", "50", "30", "30"]
    assert run("[ia_sld] > [ia_sld][previous-instance]", t) == [
        False, False, False, True, False, False
    ]
    assert run("[current-instance]", t) == ["1", "1", "2", "3", "1", "1"]
    assert run("[last-instance]", t) == ["1", "3", "3", "3", "1", "1"]


LONGITUDINAL = pd.DataFrame(
    {
        "record_id": ["1", "1", "1", "2", "2"],
        "redcap_event_name": ["baseline_arm_1", "week_6_arm_1", "week_12_arm_1",
                              "baseline_arm_2", "week_6_arm_2"],
        "weight": ["70", "68", "", "80", "82"],
    }
)


def test_event_references(run: Run) -> None:
    t = LONGITUDINAL
    assert run("[baseline_arm_1][weight]", t) == ["70", "70", "70", "", ""]
    assert run("[weight] < [baseline_arm_1][weight]", t) == [False, True, False, False, False]
    assert run("[event-name]", t) == list(t["redcap_event_name"])
    assert run("[arm-number]", t) == ["1", "1", "1", "2", "2"]
    assert run("[previous-event-name][weight]", t) == ["", "70", "68", "", "80"]


def test_event_reference_on_a_classic_table_is_an_error(run: Run) -> None:
    with pytest.raises(LogicError, match="longitudinal"):
        run("[baseline_arm_1][eligible] = 1", REPEATING)


def test_smart_variables_from_the_table_and_injected(run: Run) -> None:
    t = flat(a=["1", "2"])
    t["redcap_data_access_group"] = ["site_a", "site_b"]
    assert run("[record-name]", t) == ["1", "2"]
    assert run("[record-dag-name] = 'site_b'", t) == [False, True]
    assert run("[user-name] = 'alice'", t, smart_values={"user-name": "alice"}) == [True, True]
    with pytest.raises(LogicError, match="smart_values"):
        run("[user-name] = 'alice'", t)


def test_result_is_aligned_to_the_table_index() -> None:
    t = flat(a=["1", "2", "3"]).set_axis([10, 20, 30])
    s = evaluate(parse("[a] >= 2"), t)
    assert list(s.index) == [10, 20, 30] and s.dtype == bool
    assert s.tolist() == [False, True, True]


def test_one_evaluator_serves_many_expressions() -> None:
    t = flat(a=["1", "2", ""], b=["x", "", "y"])
    ev = Evaluator(t)
    for text in ["[a] = 1", "[b] <> ''", "[a] + 1", "concat([a], [b])"]:
        e = parse(text)
        assert same(ev.evaluate(e).tolist(), evaluate_rowwise(e, t).tolist())


# -- check() ----------------------------------------------------------------------------------------

def test_check_against_a_dictionary() -> None:
    text = ("[sex] = '1' and [ec_mets(3)] = '1' and [sex(1)] = '1' and [nope] = 1 "
            "and foo([ae_grade]) and [ec_mets(2)] = '1' and [f_complete] = '2' "
            "and [bogus-var] = 1 and [sex:weird] = 1")
    e = parse(text)
    problems = {(p.kind, p.name) for p in check(e, DICT)}
    assert problems == {
        ("unknown_choice", "3"),
        ("not_checkbox", "sex"),
        ("unknown_field", "nope"),
        ("unknown_function", "foo"),
        ("unknown_smart_variable", "bogus-var"),
        ("unknown_modifier", "weird"),
    }
    (p,) = [p for p in check(e, DICT) if p.kind == "unknown_field"]
    assert p.offset == text.index("[nope]")
    assert "[nope] at" in p.message


def test_check_against_a_set_of_names_and_events() -> None:
    e = parse("[base_arm_1][a] = 1 and [cb(2)] = '1' and [b] = 1 and [x_arm_1][a] = 2")
    problems = check(e, {"a", "cb___2"}, events={"base_arm_1"})
    assert {(p.kind, p.name) for p in problems} == {
        ("unknown_field", "b"), ("unknown_event", "x_arm_1")
    }
    assert check(parse("[a] = 1 and datediff([a], 'today', 'd') > 1"), {"a"}) == []


# -- form_context() -----------------------------------------------------------------------------------

def test_form_context_fills_the_records_base_values() -> None:
    ctx = form_context(REPEATING, DICT, "ia")
    assert list(ctx.index) == [1, 2, 3, 5]
    assert ctx["eligible"].tolist() == ["1", "1", "1", "0"]
    assert ctx["ia_sld"].tolist() == ["50", "40", "60", "30"]
    assert evaluate(parse("[eligible] = '1' and [ia_sld] > 45"), ctx).tolist() == [
        True, False, True, False
    ]
    base = form_context(REPEATING, DICT, "f")
    assert list(base.index) == [0, 4]
    with pytest.raises(LogicError):
        form_context(REPEATING, DICT, "no_such_form")


def test_non_string_cells_and_empty_tables(run: Run) -> None:
    t = pd.DataFrame({
        "record_id": ["1", "2", "3"],
        "a": pd.array(["3", pd.NA, "1"], dtype="string"),
        "b___1": [1.0, 0.0, float("nan")],
    })
    assert run("[a] = '' or [a] > 2", t) == [True, True, False]
    # 0.0 reads as the number 0; a NaN checkbox cell reads '0'
    assert run("[b(1)] = '0'", t) == [False, True, True]
    assert run("[a] = 1", t.iloc[:0]) == []
    assert run("1 + 1", t) == [2.0, 2.0, 2.0]


def test_datediff_options_read_from_fields(run: Run) -> None:
    t = flat(fmt=["ymd", "dmy", "", "x"], sign=["1", "0", "true", "false"],
             d1=["2024-01-01", "01-02-2024", "2024-03-01", "2024-03-01"],
             d2=["2023-12-01", "2024-03-01", "2024-01-01", "2024-01-01"])
    # 'x' is not a date order, so it is read as returnSigned (non-blank text: true)
    assert run("datediff([d1], [d2], 'd', [fmt])", t) == [31.0, 29.0, 60.0, -60.0]
    assert same(run("datediff([d1], [d2], 'd', [sign])", t), [-31.0, math.nan, -60.0, 60.0])
    assert run("datediff([d1], [d2], 'd', [fmt], [sign])", t) == [-31.0, 29.0, 60.0, -60.0]
