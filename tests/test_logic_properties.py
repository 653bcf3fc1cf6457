"""Property tests: round-trip through to_text, vectorised == row-by-row on generated tables,
and parse() never fails with anything but LogicSyntaxError."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgbm_redcap.logic import LogicSyntaxError, evaluate, evaluate_rowwise, parse, to_text
from sgbm_redcap.logic.functions import FUNCTIONS
from sgbm_redcap.logic.nodes import (
    Binary,
    Boolean,
    Call,
    Expression,
    FieldRef,
    Number,
    SmartVariable,
    String,
    Unary,
)

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# -- expression strategies -----------------------------------------------------------------------

numbers = st.one_of(
    st.integers(0, 10_000).map(str),
    st.tuples(st.integers(0, 999), st.integers(0, 999)).map(lambda t: f"{t[0]}.{t[1]}"),
).map(Number)

TEXT_POOL = ["", "0", "1", "2.5", "-3", "abc", "ABC", "a b", "2024-02-29", "2023-12-31 08:15",
             "10", "01", "1.0", "x'y", 'x"y', "NA"]
strings = st.sampled_from(TEXT_POOL).map(String)
booleans = st.booleans().map(Boolean)

FIELDS = ["a", "b", "d"]
field_refs = st.builds(
    FieldRef,
    field=st.sampled_from(FIELDS),
    instance=st.sampled_from([None, None, None, "1", "2", "current-instance",
                              "previous-instance", "next-instance", "first-instance",
                              "last-instance"]),
    event=st.sampled_from([None, None, None, "ev1_arm_1", "ev2_arm_2", "event-name",
                           "previous-event-name", "next-event-name", "first-event-name"]),
)
checkbox_refs = st.builds(FieldRef, field=st.just("cb"), code=st.sampled_from(["1", "2"]))
smart = st.sampled_from(
    ["current-instance", "previous-instance", "next-instance", "first-instance",
     "last-instance", "event-name", "arm-number", "record-name", "record-dag-name"]
).map(SmartVariable)

leaves = st.one_of(numbers, strings, booleans, field_refs, checkbox_refs, smart)

BINARY = ["or", "and", "=", "<>", "<", "<=", ">", ">=", "+", "-", "*", "/", "^"]
UNITS = ["y", "M", "d", "h", "m", "s"]


def calls(children: st.SearchStrategy[Expression]) -> st.SearchStrategy[Expression]:
    def fixed(name: str, n: int) -> st.SearchStrategy[Expression]:
        return st.lists(children, min_size=n, max_size=n).map(
            lambda args: Call(name, tuple(args))
        )

    def variadic(name: str, lo: int) -> st.SearchStrategy[Expression]:
        return st.lists(children, min_size=lo, max_size=4).map(
            lambda args: Call(name, tuple(args))
        )

    datediff = st.tuples(
        children, children, st.sampled_from(UNITS).map(String),
        st.sampled_from([(), (Boolean(True),), (String("ymd"),), (String("dmy"), Boolean(True)),
                         (Boolean(False),)]),
    ).map(lambda t: Call("datediff", (t[0], t[1], t[2], *t[3])))
    calcdate = st.tuples(children, children, st.sampled_from(UNITS).map(String)).map(
        lambda t: Call("calcdate", t)
    )
    one = ["sqrt", "abs", "exponential", "isnumber", "isinteger", "length", "upper", "lower",
           "trim", "year", "month", "day", "isblankormissingcode", "isblanknotmissingcode",
           "hasmissingcode", "calctext", "is_nan", "chkNull"]
    two = ["mod", "contains", "not_contain", "starts_with", "ends_with", "left", "right",
           "find", "powRC"]
    options = [fixed(n, 1) for n in one] + [fixed(n, 2) for n in two] + [
        fixed("if", 3), fixed("mid", 3), fixed("replace_text", 3),
        fixed("round", 1), fixed("round", 2), fixed("roundup", 2), fixed("rounddown", 2),
        fixed("log", 1), fixed("log", 2),
        variadic("sum", 1), variadic("mean", 1), variadic("min", 1), variadic("max", 1),
        variadic("median", 1), variadic("stdev", 1), variadic("concat", 1),
        variadic("concat_ws", 2), datediff, calcdate,
    ]
    return st.one_of(*options)


def extend(children: st.SearchStrategy[Expression]) -> st.SearchStrategy[Expression]:
    return st.one_of(
        st.builds(Binary, st.sampled_from(BINARY), children, children),
        st.builds(Unary, st.sampled_from(["not", "-", "+"]), children),
        calls(children),
    )


expressions = st.recursive(leaves, extend, max_leaves=12)

# Only for printing: any names, modifiers, unknown functions, smart variables with params.
names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
any_refs = st.builds(
    FieldRef,
    field=names,
    event=st.one_of(st.none(), names, st.just("previous-event-name")),
    code=st.one_of(st.none(), st.from_regex(r"-?[A-Za-z0-9._]{1,4}", fullmatch=True)),
    instance=st.one_of(st.none(), st.integers(1, 99).map(str), st.just("current-instance")),
    modifiers=st.lists(st.sampled_from(["value", "label", "checked", "unchecked"]),
                       max_size=2).map(tuple),
)
any_smart = st.builds(
    SmartVariable,
    st.sampled_from(["event-name", "aggregate-min", "survey-link", "user-name"]),
    st.one_of(st.none(), st.from_regex(r"[a-z_:. ]{1,10}", fullmatch=True)),
)
any_strings = st.text(st.characters(blacklist_categories=["Cs"]), max_size=8).filter(
    lambda s: not ('"' in s and "'" in s)
).map(String)
any_calls = st.tuples(
    st.one_of(names.filter(lambda n: n.lower() not in {k.lower() for k in FUNCTIONS}
                           and n not in ("and", "or", "not", "true", "false")),
              st.just("foo_bar")),
    st.lists(leaves, max_size=3),
).map(lambda t: Call(t[0], tuple(t[1])))
print_leaves = st.one_of(leaves, any_refs, any_smart, any_strings, any_calls)
printable = st.recursive(print_leaves, extend, max_leaves=12)


# -- round trip ------------------------------------------------------------------------------------

@SETTINGS
@given(printable)
def test_to_text_round_trips(e: Expression) -> None:
    assert parse(to_text(e)) == e


@SETTINGS
@given(printable)
def test_to_text_is_a_fixed_point(e: Expression) -> None:
    text = to_text(e)
    assert to_text(parse(text)) == text


# -- vectorised vs row by row ------------------------------------------------------------------------

VALUES = ["", "", "0", "1", "2", "2.5", "-3", " 7 ", "1e3", "abc", "ABC", "01", "1.0",
          "2024-02-29", "2023-12-31 08:15", "2020-01-01", "NA"]


@st.composite
def tables(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 10))
    longitudinal = draw(st.booleans())
    rows = []
    for _ in range(n):
        row = {
            "record_id": draw(st.sampled_from(["1", "2", "3"])),
            "redcap_repeat_instrument": draw(st.sampled_from(["", "", "rep"])),
            "redcap_repeat_instance": draw(st.sampled_from(["", "1", "2", "3"])),
            "redcap_data_access_group": draw(st.sampled_from(["", "site_a"])),
            "a": draw(st.sampled_from(VALUES)),
            "b": draw(st.sampled_from(VALUES)),
            "d": draw(st.sampled_from(VALUES)),
            "cb___1": draw(st.sampled_from(["", "0", "1"])),
            "cb___2": draw(st.sampled_from(["0", "1"])),
        }
        if longitudinal:
            row["redcap_event_name"] = draw(
                st.sampled_from(["ev1_arm_1", "ev2_arm_1", "ev1_arm_2", "ev2_arm_2"])
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _uses_events(e: Expression) -> bool:
    return any(
        (isinstance(n, FieldRef) and n.event is not None) for n in e.walk()
    )


def _agree(vec: pd.Series, ref: pd.Series) -> bool:
    if vec.dtype == float:
        a, b = vec.to_numpy(), ref.to_numpy()
        return bool(np.all((np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=1e-9, atol=0)))
    return vec.tolist() == ref.tolist()


KW = {"today": date(2025, 6, 30), "now": datetime(2025, 6, 30, 9, 30),
      "missing_codes": ["NA"]}


@SETTINGS
@given(expressions, tables(), st.sampled_from([None, "bool", "number", "text"]))
def test_vectorised_agrees_with_row_by_row(
    e: Expression, table: pd.DataFrame, as_: str | None
) -> None:
    if _uses_events(e) and "redcap_event_name" not in table.columns:
        table = table.assign(redcap_event_name="ev1_arm_1")
    vec = evaluate(e, table, as_=as_, **KW)
    ref = evaluate_rowwise(e, table, as_=as_, **KW)
    assert vec.dtype == ref.dtype
    assert list(vec.index) == list(ref.index)
    assert _agree(vec, ref), (to_text(e), vec.tolist(), ref.tolist())


# -- robustness ----------------------------------------------------------------------------------------

LOGICISH = st.lists(
    st.sampled_from(list("[]()'\",.:!<>=+-*/^#/ \n\t") + ["and", "or", "not", "if", "a", "1",
                                                          "_", "e", "cb", "datediff", "x(",
                                                          "current-instance", "é", "٣"]),
    max_size=40,
).map("".join)


@settings(max_examples=400, deadline=2000)
@given(st.one_of(st.text(max_size=80), LOGICISH))
def test_parse_raises_only_logic_syntax_error(text: str) -> None:
    try:
        e = parse(text)
    except LogicSyntaxError as err:
        assert 0 <= err.offset <= len(text)
        return
    assert parse(to_text(e)) == e


@settings(max_examples=100, deadline=2000)
@given(expressions)
def test_perturbed_valid_logic_raises_only_syntax_errors(e: Expression) -> None:
    text = to_text(e)
    for cut in {len(text) // 3, len(text) // 2, len(text) - 1}:
        for mutant in (text[:cut], text[:cut] + ")" + text[cut:], text[:cut] + "[" + text[cut:]):
            try:
                parse(mutant)
            except LogicSyntaxError:
                pass


def test_nan_cells_in_a_table_read_as_blank() -> None:
    t = pd.DataFrame({"record_id": ["1", "2"], "a": [math.nan, "3"]})
    e = parse("[a] = ''")
    assert evaluate(e, t).tolist() == evaluate_rowwise(e, t).tolist() == [True, False]
