"""Issue 14, items 4-5: what a reader of the monthly report sees. On the seeded 100-patient
cohort: no raw form or field name, no ">=", no internal document, invalid codes and
conditional blanks shown for what they are, categories in the declared clinical order."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest
from report_world import seeded_export, study_tables, visible_text

from sgbm_redcap.analysis.baseline import INVALID_CODE, baseline_table
from sgbm_redcap.analysis.bor import ORDER
from sgbm_redcap.reports.env import render
from sgbm_redcap.reports.formatting import reader_text
from sgbm_redcap.reports.monthly import build_monthly_context
from sgbm_redcap.reports.monthly_clinical import BOR_ROWS

CUTOFF = date(2026, 10, 31)


@pytest.fixture(scope="module")
def world():
    project, raw = seeded_export()
    tables = study_tables(project, raw)
    ctx = build_monthly_context(tables, cutoff=CUTOFF, dags=project.dags, project=project)
    return project, tables, ctx, visible_text(render("monthly_report.html.j2", ctx))


def test_reader_text_writes_comparison_signs():
    assert reader_text("Grade >= 3 TEAE") == "Grade ≥ 3 TEAE"
    assert reader_text(">=4 and <=2") == "≥ 4 and ≤ 2"
    assert reader_text("no sign here") == "no sign here"


def test_no_raw_form_or_field_name_in_the_visible_text(world):
    project, _, _, text = world
    words = set(re.findall(r"[A-Za-z0-9_]+", text))
    forms = {f for f in project.dictionary.forms if "_" in f}
    fields = {f.name for f in project.dictionary if "_" in f.name}
    assert not (words & forms), sorted(words & forms)
    assert not (words & fields), sorted(words & fields)


def test_no_ascii_comparison_or_internal_reference_in_the_visible_text(world):
    text = world[3]
    for bad in (">=", "<=", "DOMAIN", "admiralonco", "App. B", "values to verify", ".toml",
                "missing_data_codes", "expected_forms"):
        assert bad not in text, bad


def test_instrument_titles_as_redcap_shows_them(world):
    project, _, ctx, _ = world
    shown = [row[0] for row in ctx.find("completeness-by-form").rows]
    assert "Brain metastases at baseline" in shown
    assert set(shown) <= {project.form_label(f) for f in project.dictionary.forms}


def _baseline_block(ctx, variable: str) -> dict[str, list[str]]:
    table = ctx.find("baseline-table")
    rows, start = table.rows, next(i for i, r in enumerate(table.rows) if r[0] == variable)
    out = {}
    for row in rows[start + 1:]:
        if not row[0].startswith("    "):
            break
        out[row[0].strip()] = row[1:]
    return out


def test_an_invalid_code_is_no_category(world):
    project, tables, ctx, text = world
    fas = ctx.find("baseline-table").columns[1]
    menopausal = _baseline_block(ctx, "Menopausal status")
    valid = set(dict(project.dictionary.field("menopausal").choices).values())
    # the seeded cohort stores one code that is not a choice: pooled, not shown as "4"
    assert set(menopausal) <= valid | {INVALID_CODE, "Missing"}
    assert menopausal[INVALID_CODE][0].startswith("1 ")
    assert "(N = 93)" in fas and f"{INVALID_CODE}: a stored value" in text


def test_a_conditional_blank_is_not_applicable_not_missing(world):
    project, tables, ctx, _ = world
    dex = _baseline_block(ctx, "Dexamethasone at SG start (mg/day)")
    base = baseline_table(tables, tables_fas(ctx, tables))
    row = base[base["variable"] == "Dexamethasone at SG start (mg/day)"].iloc[0]
    # independent count: FAS patients with no dose, split by the steroid question
    per = _per_record(tables)
    in_fas = per[per["record_id"].isin(tables_fas(ctx, tables))]
    blank = in_fas["steroid_dex_mg"].isna()
    on_steroid = in_fas["steroid_at_start"] == "1"
    assert row["n_missing"] == int((blank & on_steroid).sum())
    assert row["n_not_applicable"] == int((blank & ~on_steroid).sum()) > 0
    assert dex.get("Missing", ["0"])[0] == str(int((blank & on_steroid).sum()))
    assert dex["Not applicable"][0] == str(int((blank & ~on_steroid).sum()))


def tables_fas(ctx, tables) -> list[str]:
    from sgbm_redcap.analysis import analyse_study

    sets = analyse_study(tables, cutoff=CUTOFF).sets
    return sets.loc[sets["fas"], "record_id"].tolist()


def _per_record(tables) -> pd.DataFrame:
    from sgbm_redcap.analysis.inputs import prepare

    return prepare(tables).one_per_record("demographics", "tumour", "brain_mets_baseline",
                                          "sg_treatment")


def _order(values: list[str], declared: list[str]) -> list[int]:
    return [declared.index(v) for v in values if v in declared]


def test_categories_in_the_declared_clinical_order(world):
    project, _, ctx, _ = world
    clinical = ["CR", "PR", "SD", "Non-CR/non-PD", "PD", "NE"]
    # one declared order (analysis.bor.ORDER): the best-response table follows it too
    codes = [code for code, _ in BOR_ROWS]
    assert codes == sorted(codes, key=ORDER.get)
    assert codes[:6] == ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE"]
    discordance = ctx.find("response-discordance")
    for seq in ([r[0] for r in discordance.rows], discordance.columns[1:]):
        idx = _order(list(seq), clinical)
        assert idx == sorted(idx) and len(idx) == len(seq)
    table = ctx.find("subgroup-ipfs")
    levels = [r[0] for r in table.rows]
    trop2 = levels[levels.index("Trop-2 H-score") + 1:][:3]
    assert trop2 == ["<100", "100-199", "≥ 200"]
    choices = dict(project.dictionary.field("ugt1a1_28").choices)
    genotypes = [label for code, label in choices.items() if code != "9"]
    start = levels.index("UGT1A1*28") + 1
    shown = [lv for lv in levels[start:start + 3] if lv in genotypes]
    assert shown == [g for g in genotypes if g in shown] and len(shown) >= 2


def test_sites_without_patients_are_not_yet_active(world):
    project, tables, ctx, _ = world
    rows = {r[0]: r for r in ctx.find("enrolment-by-site").rows}
    screened = set(tables.raw["redcap_data_access_group"].dropna())
    for unique, label in project.dags:
        if unique not in screened:
            assert rows[label][2] == "not yet active"
        else:
            assert rows[label][2] != "not yet active"


def test_footnote_references_name_the_numbered_block(world):
    ctx = world[2]
    tte, censoring = ctx.find("tte-summary"), ctx.find("censoring")
    number = censoring.caption.split(".")[0]
    assert f"Censoring reasons in {number}." in tte.footnote
    assert not tte.footnote.count(tte.caption.split(".")[0] + ".")
    assert "{ref:" not in world[3]


def test_the_lab_table_says_it_is_built_from_adverse_event_grades(world):
    table = world[2].find("lab-shifts")
    assert "Laboratory shifts" not in table.caption
    assert "adverse event" in table.caption
    assert all(c.startswith("AE grade") for c in table.columns[1:-1])


def _tables(ctx):
    from sgbm_redcap.reports.contexts import Table

    def walk(section):
        for block in section.blocks:
            if isinstance(block, Table):
                yield block
        for sub in section.subsections:
            yield from walk(sub)

    for section in ctx.sections:
        yield from walk(section)


def test_no_empty_missing_row(world):
    """A "Missing" / "... not recorded" row is shown only when some patient is in it."""
    empty = []
    for table in _tables(world[2]):
        for row in table.rows:
            label = row[0].strip().lower()
            if label == "missing" or label.endswith("not recorded"):
                counts = [c.split(" ")[0] for c in row[1:] if c]
                if counts and all(c == "0" for c in counts):
                    empty.append((table.id, row[0]))
    assert not empty, empty
    assert any(t.id == "gcsf" for t in _tables(world[2]))


def test_a_value_entered_as_a_missing_data_code_reads_its_reason(world):
    """Trop-2 (dictionary 1.1.0): "enter ND" when not done. A coded value is shown by its
    reason; only a real blank, in a patient who should have a value, is Missing."""
    project, tables, ctx, _ = world
    assert "enter nd" in project.dictionary.field("trop2_hscore").field_note.lower()
    trop2 = _baseline_block(ctx, "Trop-2 H-score")
    fas = set(tables_fas(ctx, tables))
    reasons = tables.missing_reasons
    coded = reasons[(reasons["field"] == "trop2_hscore") & reasons["record_id"].isin(fas)]
    per = _per_record(tables)
    per = per[per["record_id"].isin(fas)]
    blank = int((per["trop2_hscore"].isna() & ~per["record_id"].isin(coded["record_id"])).sum())
    assert len(coded) > 0
    assert trop2["Not done (missing data code)"][0].startswith(f"{len(coded)} (")
    assert trop2.get("Missing", ["0"])[0] == str(blank)

