"""Field references come from the parser's AST (``logic.refs``) and a repeating row's
context from one rule (``logic.context.fill_from_base``), used by the logic package, the
checks and the sandbox's calc engine alike."""

from __future__ import annotations

import pandas as pd
import pytest
from sandbox_fixtures import *  # noqa: F403  (the shared fixtures)
from sandbox_fixtures import DICTIONARY

from sgbm_redcap.checks.context import CheckContext
from sgbm_redcap.checks.generic import _logic_table
from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.errors import LogicSyntaxError
from sgbm_redcap.logic import evaluate, parse
from sgbm_redcap.logic.context import fill_from_base, form_context
from sgbm_redcap.logic.refs import referenced_fields, references
from sgbm_redcap.sandbox import calc


def test_references_read_events_instances_codes_and_smart_variables() -> None:
    refs = references("[event_1_arm_1][age] > 1 and [cb(2)] = '1' or [ae_grade][2] = '3' "
                      "or [x] = '[not_a_field]' or [current-instance] = 1 or [x:label] = 'A'")
    assert refs.fields == ("age", "cb", "ae_grade", "x")
    assert refs.events == ("event_1_arm_1",)
    assert refs.smart_variables == ("current-instance",)
    assert [r.code for r in refs.refs if r.field == "cb"] == ["2"]
    assert [r.instance for r in refs.refs if r.field == "ae_grade"] == ["2"]
    assert not refs.row_local
    assert references("[a] + [b(1)] * [f_complete]").row_local
    assert referenced_fields(parse("[a] + [a] + [b]")) == ("a", "b")


def test_references_of_logic_that_does_not_parse_raise() -> None:
    with pytest.raises(LogicSyntaxError):
        references("[a] = = 1")


def test_fill_from_base_keeps_a_zero_and_fills_only_blanks() -> None:
    base = pd.DataFrame({"record_id": ["1", "2"], "x": ["1", "1"], "y": ["5", ""]})
    rows = pd.DataFrame({"record_id": ["1", "1", "2"], "x": ["0", "", None],
                         "own": ["a", "b", "c"]}, index=[10, 11, 12])
    out = fill_from_base(rows, base, ["record_id"], ["x", "y"])
    assert out.index.tolist() == [10, 11, 12]
    assert out["x"].tolist() == ["0", "1", "1"]  # '0' is a value, not a blank
    assert out["y"].tolist() == ["5", "5", ""]
    assert out["own"].tolist() == ["a", "b", "c"]


FLAT = pd.DataFrame({
    "record_id": ["1", "1", "1"],
    "redcap_repeat_instrument": ["", "adverse_events", "adverse_events"],
    "redcap_repeat_instance": ["", "1", "2"],
    "age": ["60", "", ""],
    "eligible": ["0", "", ""],
    "ec_mets___1": ["1", "", ""], "ec_mets___2": ["0", "", ""], "ec_mets____99": ["0", "", ""],
    "ae_grade": ["", "3", "0"],
})


def test_the_three_context_builders_agree(sandbox, token) -> None:
    """logic.form_context, the checks' branching table and the sandbox's calc table give a
    repeating row the same view of its record's non-repeating values."""
    logic = "[eligible] = '0' and [ec_mets(1)] = '1' and [ec_mets(2)] = '0' and [age] > 50"
    d = load_dictionary(DICTIONARY)
    expected = [True, True]
    via_logic = form_context(FLAT, d, "adverse_events")
    assert evaluate(parse(logic), via_logic).tolist() == expected
    ctx = CheckContext(FLAT, d, repeating_forms={"adverse_events"})
    via_checks = _logic_table(ctx, "adverse_events", [logic])
    assert evaluate(parse(logic), via_checks).tolist() == expected
    meta = sandbox.store.meta(sandbox.store.token_owner(token)[0])
    rows = {("1", "", "", 0): {"age": "60", "eligible": "0", "ec_mets": ["1"]},
            ("1", "", "adverse_events", 1): {"ae_grade": "3"},
            ("1", "", "adverse_events", 2): {"ae_grade": "0"}}
    keys = [("1", "", "adverse_events", 1), ("1", "", "adverse_events", 2)]
    plain, boxes = calc._references(meta, [type("F", (), {"calc": logic})()])
    via_sandbox = calc._calc_table(meta, rows, keys, plain, boxes)
    assert evaluate(parse(logic), via_sandbox).tolist() == expected
    # and a repeating row's own '0' stays '0' in all three
    for table in (via_logic, via_checks):
        assert table["ae_grade"].tolist() == ["3", "0"]


def test_the_sandbox_calc_table_keeps_a_repeating_rows_own_zero(sandbox, token) -> None:
    """The old calc table treated '0' as blank: a repeating row's own '0' took the base
    row's value for the same column."""
    meta = sandbox.store.meta(sandbox.store.token_owner(token)[0])
    rows = {("1", "", "", 0): {"age": "60"},
            ("1", "", "adverse_events", 1): {"age": "0"}}
    table = calc._calc_table(meta, rows, [("1", "", "adverse_events", 1)], {"age"}, set())
    assert table["age"].tolist() == ["0"]
