"""The rule registry: declarations are validated, ids are unique and stable, the docs are
generated from it, and the CLI lists it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sgbm_redcap.checks import REGISTRY, Rule, RuleRegistry, render_markdown
from sgbm_redcap.cli.checks import command as checks_cli
from sgbm_redcap.errors import CheckDefinitionError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "checks.md"


def test_docs_checks_md_is_generated_from_the_registry():
    assert DOCS.read_text(encoding="utf-8") == render_markdown(REGISTRY), (
        "docs/checks.md is out of date: run "
        "'sgbm-redcap checks list --markdown > docs/checks.md'")


def test_every_rule_is_documented_with_its_message():
    text = DOCS.read_text(encoding="utf-8")
    for rule in REGISTRY:
        assert f"### {rule.rule_id}: {rule.title}" in text
        assert rule.doc and rule.message in text


def test_the_issue_s_rule_families_are_all_declared():
    ids = {r.rule_id for r in REGISTRY}
    assert {"DQ-B", "DQ-C", "DQ-D", "DQ-E", "DQ-F", "DQ-G", "DQ-H"} <= ids
    assert {"DOSE-1", "SCAN-1", "RANO-1", "RANO-2", "FU-1", "AE-1", "DATE-9"} <= ids
    assert {r.category for r in REGISTRY} >= {"eligibility", "dates", "response"}


@pytest.mark.parametrize("kwargs,problem", [
    ({"rule_id": "bad id"}, "must look like"),
    ({"severity": "fatal"}, "severity"),
    ({"category": "misc"}, "category"),
    ({"message": " "}, "message"),
])
def test_malformed_declarations_are_refused(kwargs, problem):
    base = dict(rule_id="XX-1", title="t", severity="error", category="dates", form="f",
                field="x", message="m", doc="d", predicate=lambda ctx: None)
    base.update(kwargs)
    with pytest.raises(CheckDefinitionError, match=problem):
        Rule(**base)


def test_duplicate_ids_and_unknown_selections_are_refused():
    def predicate(ctx):
        """A rule's docstring is its documentation."""

    reg = RuleRegistry()
    reg.rule("XX-1", title="t", severity="error", category="dates", form="f", field="x",
             message="m")(predicate)
    assert reg.get("XX-1").doc == "A rule's docstring is its documentation."
    with pytest.raises(CheckDefinitionError, match="declared twice"):
        reg.rule("XX-1", title="t", severity="error", category="dates", form="f", field="x",
                 message="m")(predicate)
    with pytest.raises(CheckDefinitionError, match="unknown rule ids"):
        reg.select(ids=["XX-9"])


def test_cli_lists_every_rule():
    out = CliRunner().invoke(checks_cli, ["list"])
    assert out.exit_code == 0
    assert [line.split()[0] for line in out.output.splitlines()] == [r.rule_id for r in REGISTRY]
    md = CliRunner().invoke(checks_cli, ["list", "--markdown"])
    assert md.output == render_markdown(REGISTRY)
