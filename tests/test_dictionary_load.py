"""Loading: every real-world variant in the corpus, and every way a file can be broken."""

from __future__ import annotations

import pytest
from dictionary_fixtures import STUDY_CSV, corpus_files, corpus_sources, make_csv

from sgbm_redcap.dictionary import Dictionary, load_dictionary
from sgbm_redcap.errors import DictionaryError

SOURCES = corpus_sources()


@pytest.mark.parametrize("row", SOURCES, ids=[r["file"][:40] for r in SOURCES])
def test_corpus_file_loads_with_the_documented_shape(row: dict[str, str]) -> None:
    from dictionary_fixtures import CORPUS_DICTS

    d = load_dictionary(CORPUS_DICTS / row["file"])
    assert len(d) == int(row["n_fields"])
    assert sum(1 for f in d if f.branching_logic.strip()) == int(row["n_with_branching"])
    assert sum(1 for f in d if f.field_type == "calc") == int(row["n_calc"])
    assert len(d.forms) == int(row["n_forms"])
    assert sum(1 for f in d if f.field_type == "checkbox") == int(row["n_checkbox"])
    assert d.delimiter == {"comma": ",", "semicolon": ";"}[row["delimiter"]]
    assert len(d.header) == int(row["n_columns"])
    assert d.encoding.startswith("utf-8-sig" if row["bom"] == "yes" else
                                 ("cp1252" if row["encoding"] == "cp1252" else "utf-8"))


def test_every_corpus_file_is_covered() -> None:
    assert {p.name for p in corpus_files()} == {r["file"] for r in SOURCES}
    assert len(SOURCES) >= 60


def test_field_model_of_a_real_file() -> None:
    from dictionary_fixtures import CORPUS_DICTS

    d = load_dictionary(CORPUS_DICTS / "005_agdamsbo_redcap-r-handbook_REDCapDataDictonaryDemo.csv")
    assert d.record_id == "study_id"
    assert d.header[-1] == "Matrix Group Name"  # the 16-column variant
    sex = d.field("sex")
    assert sex.field_type == "dropdown" and sex.required and sex.choices == {"0": "Female", "1": "Male"}
    assert d.get("no_such_field") is None
    with pytest.raises(KeyError):
        d.field("no_such_field")


def test_24_column_file_keeps_extra_columns() -> None:
    from dictionary_fixtures import CORPUS_DICTS

    d = load_dictionary(CORPUS_DICTS / "038_mcbacloudlab_IMPOWR-R24-REDCap-to-OMOP_"
                        "IMPOWRREDCapLibrary_DataDictionary_2022-10-23.csv")
    assert "OMOP concept_name" in d.fields[1].extra
    assert d.encoding == "cp1252"


# --------------------------------------------------------------------- variants made here
BASE_ROWS = [
    {"name": "record_id", "label": "Record ID"},
    {"name": "sex", "type": "radio", "label": "Sexe féminin?", "choices": "1, Female | 2, Male"},
    {"name": "symptoms", "type": "checkbox", "label": "Symptoms",
     "choices": "1, Headache | 2, Seizure | -1, Unknown"},
    {"name": "intro", "type": "descriptive", "label": "Intro", "form": "g"},
    {"name": "age", "validation": "integer", "min": "0", "max": "120", "form": "g"},
]


def _variants() -> dict[str, bytes]:
    text = make_csv(BASE_ROWS)
    return {
        "utf8": text.encode("utf-8"),
        "utf8-bom": b"\xef\xbb\xbf" + text.encode("utf-8"),
        "utf16-bom": text.encode("utf-16"),
        "cp1252": text.encode("cp1252"),
        "crlf": text.replace("\n", "\r\n").encode(),
        "cr-only": text.replace("\n", "\r").encode(),
        "mixed": text.replace("\n", "\r\n", 2).encode(),
        "semicolon": text.replace(",", ";").replace("1; Female | 2; Male", "1, Female | 2, Male")
        .encode(),
    }


@pytest.mark.parametrize("variant", list(_variants()))
def test_encodings_line_endings_and_delimiters(variant: str) -> None:
    data = _variants()[variant]
    if variant == "semicolon":
        # the semicolon variant must keep the choice commas: rebuild it properly
        import csv
        import io

        rows = list(csv.reader(io.StringIO(make_csv(BASE_ROWS))))
        buf = io.StringIO()
        csv.writer(buf, delimiter=";", lineterminator="\n").writerows(rows)
        data = buf.getvalue().encode()
    d = load_dictionary(data)
    assert [f.name for f in d] == ["record_id", "sex", "symptoms", "intro", "age"]
    assert d.field("sex").label == "Sexe féminin?"
    assert d.field("sex").choices == {"1": "Female", "2": "Male"}
    assert d.field("age").validation_min == "0"


def test_text_bytes_and_path_inputs_agree(tmp_path) -> None:
    text = make_csv(BASE_ROWS)
    p = tmp_path / "dd.csv"
    p.write_text(text, encoding="utf-8")
    names = [[f.name for f in load_dictionary(x)] for x in (text, text.encode(), p, str(p))]
    assert all(n == names[0] for n in names)
    assert load_dictionary(p).source == str(p)


def test_api_snake_case_header() -> None:
    from sgbm_redcap.dictionary.model import COLUMNS

    d = load_dictionary(make_csv(BASE_ROWS, header=COLUMNS))
    assert d.field("symptoms").field_type == "checkbox"


def test_cell_longer_than_the_csv_default_limit() -> None:
    huge = "x" * 300_000
    d = load_dictionary(make_csv([{"name": "record_id"}, {"name": "big", "note": huge}]))
    assert len(d.field("big").field_note) == 300_000


def test_legacy_types_are_normalised_but_kept_raw() -> None:
    d = load_dictionary(make_csv([{"name": "record_id"}, {"name": "a", "type": "textarea"},
                                  {"name": "b", "type": "Select", "choices": "1, x | 2, y"}]))
    assert d.field("a").field_type == "notes" and d.field("a").field_type_raw == "textarea"
    assert d.field("b").field_type == "dropdown"


def test_export_columns() -> None:
    d = load_dictionary(make_csv(BASE_ROWS))
    assert d.export_columns() == [
        "record_id", "sex", "symptoms___1", "symptoms___2", "symptoms____1", "f_complete",
        "age", "g_complete",
    ]
    assert d.form_fields("g")[0].name == "intro"


def test_yesno_and_truefalse_choices() -> None:
    d = load_dictionary(make_csv([{"name": "record_id"}, {"name": "a", "type": "yesno"},
                                  {"name": "b", "type": "truefalse"}]))
    assert d.field("a").choices == {"1": "Yes", "0": "No"}
    assert d.field("b").choices == {"1": "True", "0": "False"}


def test_blank_records_are_skipped_and_rows_numbered_by_csv_record() -> None:
    text = make_csv(BASE_ROWS[:2]) + ",,,,,,,,,,,,,,,,,\n" + "z,f,,text,Z,,,,,,,,,,,,,\n"
    d = load_dictionary(text)
    assert [f.row for f in d] == [2, 3, 5]


# --------------------------------------------------------------------- failures
@pytest.mark.parametrize(
    "data, row, column",
    [
        (b"", 1, None),
        (b"   \n\n", 1, None),
        (b"name,age\nbob,3\n", 1, "Variable / Field Name"),
        (b"\x00\x01\x02binary", 1, None),
        (make_csv([{"name": "record_id"}]).split("\n")[0].encode() + b"\n", 2, None),
        ((make_csv([{"name": "record_id"}]) + "a,f,,text,A,,,,,,,,,,,,,,surplus\n").encode(),
         3, "#19"),
    ],
    ids=["empty", "blank", "not-a-dictionary", "binary", "header-only", "ragged-record"],
)
def test_broken_input_raises_dictionary_error_with_row_and_column(data, row, column) -> None:
    with pytest.raises(DictionaryError) as info:
        load_dictionary(data)
    assert info.value.row == row
    assert info.value.column == column
    assert info.value.file == "<bytes>"


def test_missing_file_names_the_file(tmp_path) -> None:
    with pytest.raises(DictionaryError) as info:
        load_dictionary(tmp_path / "nope.csv")
    assert info.value.file.endswith("nope.csv")


def test_duplicate_header_column() -> None:
    text = make_csv([{"name": "record_id"}]).replace("Field Note", "Form Name", 1)
    with pytest.raises(DictionaryError) as info:
        load_dictionary(text)
    assert info.value.row == 1 and info.value.column == "Form Name"


def test_bom_utf8_with_bad_bytes_names_the_row() -> None:
    data = b"\xef\xbb\xbf" + make_csv([{"name": "record_id"}]).encode() + b"a,f,,text,\xff\xfe\n"
    with pytest.raises(DictionaryError) as info:
        load_dictionary(data)
    assert info.value.row == 3


def test_study_dictionary_is_a_dictionary() -> None:
    d = load_dictionary(STUDY_CSV)
    assert isinstance(d, Dictionary) and d.record_id == "record_id"
    assert d.header == list(__import__("sgbm_redcap.dictionary.model", fromlist=["x"]).UI_HEADER)


# --------------------------------------------------------------------- never a traceback
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_HEADER = make_csv([{"name": "record_id"}]).split("\n")[0]
_CELL = st.text(alphabet=st.sampled_from(list('ab1,;"|\n\r []()\'=é\x00')), max_size=12)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_load_or_raise_dictionary_error(data: bytes) -> None:
    try:
        load_dictionary(data)
    except DictionaryError as exc:
        assert exc.file == "<bytes>" and exc.row is not None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_CELL, min_size=1, max_size=20), max_size=6))
def test_arbitrary_records_under_a_real_header_load_or_raise(rows: list[list[str]]) -> None:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    text = _HEADER + "\n" + buf.getvalue()
    try:
        d = load_dictionary(text)
    except DictionaryError as exc:
        assert exc.row is not None and exc.row >= 1
        return
    from sgbm_redcap.dictionary.lint import lint

    for issue in lint(d).issues:  # and the linter copes with whatever loaded
        assert issue.row >= 1


def test_long_single_line_text_is_text_not_a_path() -> None:
    with pytest.raises(DictionaryError) as info:
        load_dictionary("a," * 5000)
    assert info.value.file == "<text>"
