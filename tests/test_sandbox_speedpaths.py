"""The sandbox's fast paths give exactly what the value-by-value paths give.

Flat-CSV export lines (``flatcsv``), the distinct-value import check, the bulk store of
checkbox-free rows, the row-local calc shortcut and the form-body decoder each have a
reference path in the same code; these tests run both on the same data and compare bytes.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from urllib.parse import quote_plus, unquote_to_bytes, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sandbox_fixtures import *  # noqa: F403  (the shared fixtures)
from sandbox_fixtures import DICTIONARY, seed_two

from sgbm_redcap.sandbox import Sandbox, calc
from sgbm_redcap.sandbox.endpoints import records, records_export, records_plan, records_write
from sgbm_redcap.sandbox.protocol import _unquote_plus, csv_cell

TRICKY = ['said "ouch", twice\nthen slept', "a,b", 'q"', "line\r\nbreak", "cr\ronly", " pad ",
          "semi;colon", "tab\there", "pipe|caret^", ""]


def _fputcsv_line(cells: list[str], delimiter: str) -> str:
    """PHP's fputcsv, as the rule reads in PHP's manual: a field is enclosed when it contains
    the delimiter, the enclosure, the escape character, a line feed, a carriage return, a
    tab or a space; enclosures inside are doubled."""
    out = []
    for c in cells:
        if any(ch in c for ch in (delimiter, '"', "\\", "\n", "\r", "\t", " ")):
            c = '"' + c.replace('"', '""') + '"'
        out.append(c)
    return delimiter.join(out) + "\n"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list('ab ,;\t|^"\\\n\r\u00e9')),
                        max_size=8), min_size=2, max_size=6),
       st.sampled_from([",", "\t", ";", "|", "^"]))
def test_csv_cells_are_quoted_as_fputcsv_quotes_them(cells, delimiter):
    ours = delimiter.join(csv_cell(c, delimiter) for c in cells) + "\n"
    assert ours == _fputcsv_line(cells, delimiter)
    # and any CSV reader gets the cells back
    back = next(csv.reader(io.StringIO(ours), delimiter=delimiter))
    assert back == cells


def _reference_builder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send exports down the list-per-row path, written cell by cell (``csv_line``)."""
    original = records_export.RowBuilder.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.fast = False

    monkeypatch.setattr(records_export.RowBuilder, "__init__", init)


def _seed_tricky(project) -> None:
    seed_two(project)
    project.import_records([
        {"record_id": "1", "redcap_repeat_instrument": "adverse_events",
         "redcap_repeat_instance": str(i + 3), "ae_comment": text, "ae_term": "2"}
        for i, text in enumerate(TRICKY)] + [
        {"record_id": "a,b", "email": "x@example.org"},
        {"record_id": '3"', "redcap_repeat_instrument": "adverse_events",
         "redcap_repeat_instance": "1", "ae_comment": "only, this"}])


@pytest.mark.parametrize("params", [
    {},
    {"csvDelimiter": ";"},
    {"csvDelimiter": "tab"},
    {"exportDataAccessGroups": "true"},
    {"fields[0]": "ae_comment", "fields[1]": "age"},
    {"forms[0]": "adverse_events"},
    {"rawOrLabelHeaders": "label"},
    {"records[0]": "1", "records[1]": "a,b"},
])
def test_fast_csv_export_is_byte_identical_to_the_cell_by_cell_path(
        project, sandbox, token, monkeypatch, params):
    _seed_tricky(project)
    body = urlencode({"token": token, "content": "record", "format": "csv", **params})
    status, _, fast = sandbox.handle(body.encode())
    assert status == 200
    assert b'"said ""ouch"", twice' in fast
    with monkeypatch.context() as m:
        _reference_builder(m)
        status, _, reference = sandbox.handle(body.encode())
    assert status == 200 and fast == reference


def make_sandbox_and_token(path) -> tuple[Sandbox, str]:
    sandbox = Sandbox(path)
    return sandbox, sandbox.create_project(DICTIONARY, repeating_forms=["adverse_events"],
                                           dags=["Site A", "Site B"])


def _stored(sandbox, token) -> tuple[list, list]:
    pid = sandbox.store.token_owner(token)[0]
    conn = sandbox.store.conn
    data = sorted(sandbox.store.read_rows(pid).items())
    log = conn.execute("SELECT action, details, record FROM log WHERE pid=? AND logtype LIKE "
                       "'record%' ORDER BY id", (pid,)).fetchall()
    # a row's JSON key order is not observable through the API: compare the values
    return [(*key, values) for key, values in data], log


def _exact_import(m: pytest.MonkeyPatch) -> None:
    m.setattr(records_plan._DistinctValues, "all_valid", lambda self, *a: False)
    m.setattr(records_write, "_BULK_WRITE", False)
    m.setattr(calc, "_row_local", lambda meta, calcs: False)


IMPORTS = [
    # clean rows, export-shaped (blank columns everywhere), checkboxes and repeats
    [{"record_id": "5", "enrol_date": "2024-09-01", "age": "55", "eligible": "1",
      "ec_mets___1": "1", "ec_mets___2": "0", "kps": "", "email": ""},
     {"record_id": "5", "redcap_repeat_instrument": "adverse_events",
      "redcap_repeat_instance": "1", "ae_term": "1", "ae_grade": "3", "ae_comment": 'x, "y"',
      "enrol_date": ""},
     {"record_id": "6", "age": "41", "eligible": "0"}],
    # values that are stored other than given: whitespace, numbers, a DMY date
    [{"record_id": "7", "age": " 60 ", "enrol_date": "2024-9-1"}],
    [{"record_id": "8", "age": 61, "eligible": 1, "kps": 80.0}],
    # errors: a bad category, a bad date, a value outside the row's form, a bad checkbox
    [{"record_id": "9", "eligible": "7", "enrol_date": "2024-13-01"},
     {"record_id": "9", "redcap_repeat_instrument": "adverse_events",
      "redcap_repeat_instance": "1", "age": "3", "ae_term": "1"},
     {"record_id": "10", "ec_mets___1": "yes"}],
]


@pytest.mark.parametrize("rows", IMPORTS)
@pytest.mark.parametrize("date_format", ["YMD", "DMY"])
def test_distinct_value_import_stores_and_answers_as_the_exact_path(
        tmp_path, monkeypatch, rows, date_format):
    answers, states = [], []
    for exact in (False, True):
        sandbox, token = make_sandbox_and_token(tmp_path / str(exact))
        with monkeypatch.context() as m:
            if exact:
                _exact_import(m)
            body = urlencode({"token": token, "content": "record", "format": "json",
                              "dateFormat": date_format, "data": json.dumps(rows)})
            status, _, answer = sandbox.handle(body.encode())
            # a second import over the same records: existing rows are merged
            status2, _, answer2 = sandbox.handle(body.encode())
        answers.append((status, answer, status2, answer2))
        states.append(_stored(sandbox, token))
    assert answers[0] == answers[1]
    assert states[0] == states[1]


def test_import_with_a_wrong_value_keeps_redcaps_error_lines(sandbox, token):
    body = urlencode({"token": token, "content": "record", "format": "json",
                      "data": json.dumps(IMPORTS[3])})
    status, _, answer = sandbox.handle(body.encode())
    message = json.loads(answer)["error"]
    assert status == 400
    assert '"9","eligible","7","The value is not a valid category for eligible"' in message
    assert '"10","ec_mets___1","yes"' in message


def test_calc_shortcut_only_for_calcs_that_read_their_own_row(sandbox, token):
    meta = sandbox.store.meta(sandbox.store.token_owner(token)[0])
    calcs = [f for f in meta.fields.values() if f.ftype == "calc"]
    assert calcs and calc._row_local(meta, calcs)

    class Fake:
        def __init__(self, text: str):
            self.calc, self.form, self.ftype = text, "enrolment", "calc"

    for text in ("[event_1_arm_1][age] * 2", "[age][previous-instance] + 1",
                 "[age] + [last-instance]", "[age] [ 1 ]"):
        fresh = type(meta)(**{**meta.__dict__, "cache": {}})
        assert not calc._row_local(fresh, [Fake(text)]), text
    fresh = type(meta)(**{**meta.__dict__, "cache": {}})
    assert calc._row_local(fresh, [Fake("[age] * 2 + [ec_mets(1)] + [enrolment_complete]")])


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab%+ 2"5\u00e9,:{}[]=\n\rGF')), max_size=30),
       st.integers(min_value=1, max_value=400), st.booleans())
def test_form_body_decoding_matches_unquote(text, repeat, encode):
    raw = ((quote_plus(text) if encode else text) * repeat).encode()
    expected = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", errors="replace")
    assert _unquote_plus(raw) == expected


@pytest.mark.parametrize(("rows", "fast_plan"), [(IMPORTS[0], True), (IMPORTS[1], False),
                                                 (IMPORTS[2], True), (IMPORTS[3], False)])
def test_distinct_value_pass_hands_over_only_what_it_cannot_store_as_given(
        sandbox, token, monkeypatch, rows, fast_plan):
    results = []
    original = records_plan._plan_distinct

    def spy(*args):
        got = original(*args)
        results.append(got)
        return got

    monkeypatch.setattr(records_plan, "_plan_distinct", spy)
    sandbox.handle(urlencode({"token": token, "content": "record", "format": "json",
                              "data": json.dumps(rows)}).encode())
    assert results == [fast_plan]


@pytest.mark.parametrize("raw", [
    b"%22a%22%3A%2C" * 500,        # the C quoted-printable route
    b"%22a%3D%22" * 500,           # %3D decodes to '=': the general decoder answers
    b"a%2" + b"%41" * 2000,        # an invalid escape
    b"%41" * 2000 + b"%",          # a trailing '%'
    b"%%41" * 2000,                # '%%'
    b"x=%41" * 2000,               # a literal '='
])
def test_form_body_decoding_edge_cases(raw):
    expected = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", errors="replace")
    assert _unquote_plus(raw) == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(list("abcdefgh")), max_size=6).map(
    lambda names: dict.fromkeys(names, "")), max_size=12))
def test_import_header_is_every_column_in_order_of_first_appearance(rows):
    from itertools import chain

    assert records_plan._header(rows) == list(dict.fromkeys(chain.from_iterable(rows)))


STUDY_DICTIONARY = Path(__file__).resolve().parents[1] / "redcap_project" / "data_dictionary.csv"


def _study_rows() -> dict:
    """Two patients of the study dictionary: base rows feeding base-row calcs, intracranial and
    extracranial assessments (each with its own calc) and SG administrations (no calc)."""
    rows = {}
    for rec, born in (("1", "1960-03-01"), ("2", "1971-12-31")):
        rows[(rec, "", "", 0)] = {"record_id": rec, "birth_date": born,
                                  "sg_start_date": "2024-01-15", "er_pct": "5",
                                  "her2_ihc": "1", "age_sg_start": "1"}
        for i in (1, 2):
            rows[(rec, "", "intracranial_assessment", i)] = {
                "ia_tl1_ld": str(10 * i), "ia_tl2_ld": "5"}
            rows[(rec, "", "sg_administration", i)] = {"adm_cycle": "1"}
            rows[(rec, "", "extracranial_assessment", i)] = {"ea_tl1_ld": str(i)}
    return rows


def test_recalculate_visits_each_calcs_own_rows_and_updates_in_place_only_when_asked(tmp_path):
    import copy

    sandbox = Sandbox(tmp_path / "study")
    token = sandbox.create_project(STUDY_DICTIONARY, repeating_forms=[
        "intracranial_assessment", "extracranial_assessment", "sg_administration"])
    meta = sandbox.store.meta(sandbox.store.token_owner(token)[0])
    given_rows = _study_rows()
    copied_input = copy.deepcopy(given_rows)
    copied = calc.recalculate(meta, copied_input, ["1", "2"])
    assert copied_input == given_rows  # the copying path leaves its input alone
    owned = copy.deepcopy(given_rows)
    updated = calc.recalculate(meta, owned, ["1", "2"], in_place=True)
    assert updated == copied and list(updated) == list(copied)
    assert all(updated[k] is owned[k] for k in updated)
    # what the calcs say, from the inputs above
    assert copied[("1", "", "", 0)]["age_sg_start"] == "63"
    assert copied[("2", "", "", 0)]["age_sg_start"] == "52"
    assert copied[("1", "", "", 0)]["er_low"] == "1"
    assert copied[("1", "", "", 0)]["her2_low"] == "1"  # a second calc of the same form
    assert copied[("2", "", "intracranial_assessment", 2)]["ia_sld"] == "25"
    assert copied[("1", "", "extracranial_assessment", 1)]["ea_sld"] == "1"
    assert not any(k[2] == "sg_administration" for k in copied)
    # changed rows in the order they are written in: by calc, then in the rows' own order
    assert list(copied) == [(rec, "", form, i) for form, instances in (
        ("", (0,)), ("intracranial_assessment", (1, 2)), ("extracranial_assessment", (1, 2)))
        for rec in ("1", "2") for i in instances]


@pytest.mark.parametrize("enabled_before", [True, False])
@pytest.mark.parametrize("rows", [IMPORTS[0], IMPORTS[3]])  # a good and a refused import
def test_api_calls_pause_the_cyclic_collector_and_restore_its_state(
        sandbox, token, monkeypatch, rows, enabled_before):
    import gc

    seen = []
    original = records._import_records

    def spy(ctx):
        seen.append(gc.isenabled())
        return original(ctx)

    monkeypatch.setattr(records, "_import_records", spy)
    was = gc.isenabled()
    (gc.enable if enabled_before else gc.disable)()
    try:
        status, _, _ = sandbox.handle(urlencode({"token": token, "content": "record",
                                                 "format": "json",
                                                 "data": json.dumps(rows)}).encode())
        assert seen == [False]
        assert gc.isenabled() is enabled_before
    finally:
        (gc.enable if was else gc.disable)()
    assert status == (200 if rows is IMPORTS[0] else 400)


def test_collector_pause_nests_across_overlapping_calls():
    import gc

    from sgbm_redcap.sandbox.collector import CollectorPause

    pause = CollectorPause()
    was = gc.isenabled()
    gc.enable()
    try:
        with pause.paused():
            with pause.paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the outer call still runs
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.text(max_size=6),
    st.one_of(st.text(max_size=12), st.lists(st.text(max_size=4), max_size=3)),
    max_size=5))
def test_stored_row_text_is_the_standard_librarys_compact_json(values):
    """orjson writes stored rows; what it writes (or, for text it refuses such as lone
    surrogates, the fallback) must be the standard library's compact text exactly."""
    from sgbm_redcap.sandbox.store import _compact_dumps

    assert _compact_dumps(values) == json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def test_stored_row_text_falls_back_for_lone_surrogates():
    from sgbm_redcap.sandbox.store import _compact_dumps

    value = {"note": json.loads('"\\ud800 x"'), "c": "\x7f\u2028"}
    assert _compact_dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_row_local_calcs_give_what_the_whole_table_evaluation_gives(tmp_path, monkeypatch):
    """On the synthetic cohort (every calc of the study, repeating and base rows), the
    per-form evaluation of row-local calcs changes exactly what evaluating every calc on
    one table of all rows changes."""
    import copy

    from sgbm_redcap.synthetic.cohort import generate_cohort

    sandbox = Sandbox(tmp_path / "study")
    token = sandbox.create_project(STUDY_DICTIONARY, repeating_forms=[
        "intracranial_assessment", "extracranial_assessment", "sg_administration"])
    meta = sandbox.store.meta(sandbox.store.token_owner(token)[0])
    rows: dict = {}
    for r in generate_cohort(n=12, seed=7, problem_rate=0.3).clean_records:
        values = {k: str(v) for k, v in r.items() if v not in (None, "")
                  and not k.startswith("redcap_") and k in meta.fields}
        key = (str(r["record_id"]), "", r.get("redcap_repeat_instrument") or "",
               int(r.get("redcap_repeat_instance") or 0))
        rows.setdefault(key, {}).update(values)
    for values in rows.values():  # stale calc values, so that every calc has work to do
        values.update({"age_sg_start": "0", "er_low": "9", "her2_low": "9", "ia_sld": "-1",
                       "ea_sld": "-1", "days_last_rt_to_sg": "0"})
    records = sorted({k[0] for k in rows})
    local = calc.recalculate(meta, copy.deepcopy(rows), records)
    monkeypatch.setattr(calc, "_row_local", lambda meta, calcs: False)
    whole = calc.recalculate(meta, copy.deepcopy(rows), records)
    assert local == whole
    assert {name for row in local.values() for name in row} >= {
        "age_sg_start", "er_low", "her2_low", "ia_sld", "ea_sld"}


def _dict_reader_rows(text: str) -> list[dict[str, str]]:
    """The CSV reading before: csv.DictReader, keys stripped, None (missing cell) as blank,
    cells beyond the header dropped."""
    import csv as csv_module

    return [{str(k).strip(): ("" if v is None else v) for k, v in r.items() if k is not None}
            for r in csv_module.DictReader(io.StringIO(text))]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.lists(st.text(alphabet=st.sampled_from(list('ab ,"\n\r')), max_size=4),
                         max_size=4), max_size=5))
def test_csv_import_rows_are_what_dict_reader_gives(lines):
    """Any CSV text (ragged rows, blank lines, quoted line breaks, padded or repeated header
    names) is read into the same rows as csv.DictReader read it."""
    from sgbm_redcap.sandbox.protocol import _csv_rows

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(lines)
    text = buf.getvalue() + ("\n\n" if lines else "")

    def outcome(read):
        try:
            return read(text)
        except csv.Error as exc:  # e.g. a lone carriage return in an unquoted field
            return ("csv.Error", str(exc))

    assert outcome(_csv_rows) == outcome(_dict_reader_rows)
