"""Parser, printer and error messages of the REDCap logic language (REDCAP_API.md §5.4)."""

from __future__ import annotations

import pytest

from sgbm_redcap.errors import LogicError
from sgbm_redcap.logic import LogicSyntaxError, parse, to_text
from sgbm_redcap.logic.nodes import (
    Binary,
    Boolean,
    Call,
    FieldRef,
    Number,
    SmartVariable,
    String,
    Unary,
)


def f(name: str, **kw: object) -> FieldRef:
    return FieldRef(name, **kw)  # type: ignore[arg-type]


# -- operators and precedence ---------------------------------------------------------------

def test_and_binds_tighter_than_or() -> None:
    e = parse("[a] = 1 or [b] = 2 and [c] = 3")
    assert e == Binary(
        "or",
        Binary("=", f("a"), Number("1")),
        Binary("and", Binary("=", f("b"), Number("2")), Binary("=", f("c"), Number("3"))),
    )


@pytest.mark.parametrize(
    "text",
    ["[a] = '1' AND [b] <> '2'", "[a] == '1' && [b] != '2'", "[a] = '1' And [b] <> '2'"],
)
def test_operator_spellings_are_one_tree(text: str) -> None:
    assert parse(text) == Binary(
        "and", Binary("=", f("a"), String("1")), Binary("<>", f("b"), String("2"))
    )


def test_or_spellings() -> None:
    assert parse("[a]=1 || [b]=2") == parse("[a] = 1 OR [b] = 2")


def test_not_and_bang_bind_to_the_next_operand() -> None:
    assert parse("not [a] = 1") == Binary("=", Unary("not", f("a")), Number("1"))
    assert parse("!([a] = 1)") == Unary("not", Binary("=", f("a"), Number("1")))
    assert parse("NOT([a] = 1)") == parse("!([a] = 1)")


def test_arithmetic_precedence_and_power() -> None:
    assert parse("1 + 2 * 3") == Binary("+", Number("1"), Binary("*", Number("2"), Number("3")))
    assert parse("2 ^ 3 ^ 2") == Binary("^", Number("2"), Binary("^", Number("3"), Number("2")))
    assert parse("-2 ^ 2") == Unary("-", Binary("^", Number("2"), Number("2")))
    assert parse("2 ^ -1") == Binary("^", Number("2"), Unary("-", Number("1")))
    assert parse("(1 + 2) * 3") == Binary("*", Binary("+", Number("1"), Number("2")), Number("3"))
    assert parse("10 - 4 - 3") == Binary("-", Binary("-", Number("10"), Number("4")), Number("3"))


def test_comparison_binds_looser_than_arithmetic() -> None:
    assert parse("[a] + 1 >= [b] * 2") == Binary(
        ">=", Binary("+", f("a"), Number("1")), Binary("*", f("b"), Number("2"))
    )


def test_literals() -> None:
    assert parse('"it\'s"') == String("it's")
    assert parse("'say \"hi\"'") == String('say "hi"')
    assert parse("''") == String("")
    assert parse(".5") == Number(".5")
    assert parse("2.50") == Number("2.50")
    assert parse("TRUE") == Boolean(True)


# -- references ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[ae_grade]", f("ae_grade")),
        ("[ec_mets(3)]", f("ec_mets", code="3")),
        ("[race(asian)]", f("race", code="asian")),
        ("[symptoms(-99)]", f("symptoms", code="-99")),
        ("[baseline_arm_1][weight]", f("weight", event="baseline_arm_1")),
        ("[ia_sld][2]", f("ia_sld", instance="2")),
        ("[ia_sld][previous-instance]", f("ia_sld", instance="previous-instance")),
        ("[visit_1_arm_1][ia_sld][3]", f("ia_sld", event="visit_1_arm_1", instance="3")),
        ("[previous-event-name][weight]", f("weight", event="previous-event-name")),
        ("[sex:label]", f("sex", modifiers=("label",))),
        ("[meds:checked]", f("meds", modifiers=("checked",))),
        ("[ec_mets(1):value]", f("ec_mets", code="1", modifiers=("value",))),
    ],
)
def test_field_references(text: str, expected: FieldRef) -> None:
    assert parse(text) == expected
    assert to_text(expected) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[current-instance]", SmartVariable("current-instance")),
        ("[event-name]", SmartVariable("event-name")),
        ("[arm-number]", SmartVariable("arm-number")),
        ("[aggregate-min:age]", SmartVariable("aggregate-min", "age")),
        ("[survey-link:consent:Click here]", SmartVariable("survey-link", "consent:Click here")),
    ],
)
def test_smart_variables(text: str, expected: SmartVariable) -> None:
    assert parse(text) == expected
    assert to_text(expected) == text


def test_brackets_must_touch_to_form_one_reference() -> None:
    with pytest.raises(LogicSyntaxError) as err:
        parse("[a] [b]")
    assert err.value.offset == 4


# -- functions ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "text",
    [
        "datediff([d1], [d2], 'd')",
        "datediff([d1], 'today', 'y', 'ymd')",
        "datediff([d1], 'now', 'h', 'dmy', true)",
        "if([a] = 1, 'x', if([b] = 2, 'y', 'z'))",
        "round([x], 2) + roundup([x]) + rounddown([x], 1)",
        "sum([a], [b], [c]) / mean([a], [b]) + min(1, 2) + max(3) + median(1, 2, 3) + stdev(1, 2)",
        "isblankormissingcode([a]) or isblanknotmissingcode([b]) or hasmissingcode([c])",
        "contains([t], 'x') and not_contain([t], 'y') and starts_with([t], 'a')",
        "concat([a], ' ', [b]) = concat_ws(' ', [a], [b])",
        "year([d]) + month([d]) + day([d]) > 0",
        "mid([t], 2, 3) = left([t], 1) or right([t], 2) = trim(upper(lower([t])))",
        "length([t]) + find('a', [t]) + mod(7, 2) + sqrt(4) + abs(-1) + exponential(1) + log(8, 2)",
        "replace_text([t], 'a', 'b') = calctext([t])",
        "isnumber([a]) and isinteger([a]) and ismissingcode([a])",
        "calcdate([d], 7, 'd') = '2024-01-08'",
    ],
)
def test_whitelisted_functions_parse_and_round_trip(text: str) -> None:
    e = parse(text)
    assert parse(to_text(e)) == e


def test_function_names_are_case_insensitive() -> None:
    assert parse("IF([a] = 1, 2, 3)") == parse("if([a]=1,2,3)")
    assert parse("ROUNDRC(2.5)") == Call("roundRC", (Number("2.5"),))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("datediff([a], [b])", "datediff() takes 3 to 5 arguments, got 2"),
        ("datediff([a], [b], 'd', 'ymd', true, 1)", "takes 3 to 5 arguments, got 6"),
        ("if([a] = 1, 2)", "if() takes 3 arguments, got 2"),
        ("sum()", "sum() takes at least 1 argument, got 0"),
        ("x + sqrt(1, 2)", None),
    ],
)
def test_wrong_arity_is_a_syntax_error(text: str, message: str | None) -> None:
    with pytest.raises(LogicSyntaxError) as err:
        parse(text)
    if message is not None:
        assert message in str(err.value)


def test_unknown_function_parses_and_is_left_to_check() -> None:
    assert parse("foo([a])") == Call("foo", (f("a"),))


# -- comments and layout -----------------------------------------------------------------------

def test_comment_lines_and_newlines() -> None:
    text = "// eligibility\n[a] = '1'\n   # the second rule\n and\n[b] = '2'"
    assert parse(text) == parse("[a] = '1' and [b] = '2'")


def test_hash_inside_a_string_is_not_a_comment() -> None:
    assert parse("[a] = '#1'") == Binary("=", f("a"), String("#1"))


@pytest.mark.parametrize("inside", ["a\n# b", "a\r# b", "a\r\n  // b", "\r#"])
def test_a_line_break_inside_a_string_does_not_start_a_comment_line(inside) -> None:
    """Found by the round-trip property test: ``"\\r#"`` lost its closing quote to a
    'comment' that began inside the string."""
    assert parse(f"[a] = '{inside}'\n# a real comment\nor [b] = 1") == parse(
        f"[a] = '{inside}' or [b] = 1")
    assert parse(f'"{inside}"') == String(inside)


# -- errors a site manager can act on ----------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("[eligible] = ((([a] = 1)", 14, "unbalanced '(': it is never closed"),
        ("[a] = 1)", 7, "unbalanced ')'"),
        ("[a] = 'yes", 6, "unterminated string"),
        ("[a = 1", 0, "unbalanced '['"),
        ("[a]] = 1", 3, "unbalanced ']': no '[' before it"),
        ("[a] = yes", 6, "unexpected word 'yes'"),
        ("[a] > = 12", 6, "expected a value but found '='"),
        ("[a] = 1 and", 8, "'and' has nothing after it"),
        ("", 0, "the logic is empty"),
        ("// only a comment", 0, "the logic is empty"),
        ("[a] = 1 [b] = 2", 8, "expected an operator"),
        ("[a] = {1}", 6, "unexpected character '{'"),
        ("()", 0, "empty parentheses"),
        ("[] = 1", 0, "empty []"),
        ("[2] = 1", 0, "instance number but no field"),
        ("[a][0] = 1", 3, "must be 1 or more"),
        ("[e][a][b][c]", 0, "too many [..] in a row"),
        ("1.2.3", 0, "malformed number"),
        ("if([a], , 2)", 8, "missing argument"),
    ],
)
def test_syntax_errors_point_at_the_character(text: str, offset: int, message: str) -> None:
    with pytest.raises(LogicSyntaxError) as err:
        parse(text)
    assert err.value.offset == offset
    assert message in err.value.reason
    assert err.value.text == text


@pytest.mark.parametrize(
    "text",
    ["[eligible] = ((([a] = 1)", "[a] = 1)", "[a] = 'yes", "[a] = yes", "[a] = 1 and",
     "[a] > = 12", "([a] = 1 [b]", "if([a] 1, 2)", "datediff([a], [b])", "[a] = {1}"],
)
def test_syntax_error_message_gives_the_position_once_counting_from_one(text: str) -> None:
    with pytest.raises(LogicSyntaxError) as err:
        parse(text)
    message = str(err.value)
    position = f"character {err.value.offset + 1}"
    assert message.count(position) == 1, message
    assert f" at {err.value.offset}" not in err.value.reason, err.value.reason
    assert message.startswith(err.value.reason)


def test_syntax_error_message_shows_where_it_is_in_the_logic() -> None:
    with pytest.raises(LogicSyntaxError) as err:
        parse("[eligible] = ((([a] = 1)")
    assert str(err.value) == ("unbalanced '(': it is never closed with ')', "
                              "at character 15, where it reads \"(([a] = 1)\"")
    with pytest.raises(LogicSyntaxError) as err:
        parse("[a] = 1 and")
    assert str(err.value).endswith("at character 9, where it reads \"and\"")
    with pytest.raises(LogicSyntaxError) as err:
        parse("[a] = -")
    assert str(err.value).endswith("at character 8, the end of the logic")


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(LogicSyntaxError, match="nested too deeply"):
        parse("(" * 5000 + "1" + ")" * 5000)
    with pytest.raises(LogicSyntaxError, match="nested too deeply"):
        parse("not " * 5000 + "1")
    with pytest.raises(LogicSyntaxError, match="too long"):
        parse(" or ".join(["[a] = 1"] * 1000))


def test_long_but_reasonable_chain_parses() -> None:
    e = parse(" or ".join(f"[cb({k})] = '1'" for k in range(100)))
    assert parse(to_text(e)) == e


# -- printing -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("[a]=='1'&&[b]!=\"2\"", '[a] = "1" and [b] <> "2"'),
        ("(([a] = 1))", "[a] = 1"),
        ("([a] = 1 or [b] = 2) and [c] = 3", "([a] = 1 or [b] = 2) and [c] = 3"),
        ("[a] = 1 or ([b] = 2 and [c] = 3)", "[a] = 1 or [b] = 2 and [c] = 3"),
        ("10 - (4 - 3)", "10 - (4 - 3)"),
        ("(2 ^ 3) ^ 2", "(2 ^ 3) ^ 2"),
        ("(-2) ^ 2", "(-2) ^ 2"),
        ("!([a] = 1)", "not([a] = 1)"),
        ("- - 1", "--1"),
        ("'say \"hi\"'", "'say \"hi\"'"),
    ],
)
def test_to_text_is_canonical_and_minimal(text: str, canonical: str) -> None:
    e = parse(text)
    assert to_text(e) == canonical
    assert parse(canonical) == e


def test_text_with_both_quotes_cannot_be_printed() -> None:
    with pytest.raises(LogicError):
        to_text(String("it's \"x\""))


def test_positions_do_not_affect_equality() -> None:
    assert parse("[a]=1") == parse("   [a]   =   1")
    assert parse("   [a]   =   1").pos == 9  # type: ignore[attr-defined]
