"""The study's REDCap project definition: ``redcap_project/`` = data dictionary CSV +
``project.toml`` (title, short name, NCT id, version, repeating instruments, Data Access Groups).

This is the one home of the study's facts: code never spells the study's name, registry id
or repeating forms itself, it reads them from a :class:`StudyProject` (:func:`study_project`
for the study of this repository)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from os import PathLike
from pathlib import Path

from sgbm_redcap.dictionary.load import load_dictionary, read_toml
from sgbm_redcap.dictionary.missing import (
    NO_CODES,
    MissingCodes,
    missing_codes_from,
    parse_missing_codes,
)
from sgbm_redcap.dictionary.model import Dictionary
from sgbm_redcap.dictionary.odm import form_label, read_project_xml
from sgbm_redcap.dictionary.translation import Translation, load_mlm
from sgbm_redcap.errors import DictionaryError

#: REDCap's unique DAG names: lower case, digits and underscore, at most 18 characters.
_DAG_NAME = re.compile(r"^[a-z0-9_]{1,18}$")


@dataclass
class StudyProject:
    """Everything needed to build the study's REDCap project, and the study's facts.

    ``title``, ``short_name`` and ``nct`` (the ClinicalTrials.gov id) come from
    ``[project]`` of ``project.toml``; reports, covers and the Project XML read them here."""

    dictionary: Dictionary
    version: str
    repeating_forms: list[str]
    dags: list[tuple[str, str]]  # (unique_group_name, label)
    title: str = ""
    short_name: str = ""
    nct: str = ""
    #: planned number of patients and the first day of enrolment (``[project]``)
    enrolment_target: int | None = None
    enrolment_start: date | None = None
    path: Path | None = None
    repeating_labels: dict[str, str] = field(default_factory=dict)
    record_autonumbering: bool = True
    #: the project's missing data codes (``[missing_data_codes]``; REDCap's project setup)
    missing_codes: MissingCodes = NO_CODES
    #: instrument labels as REDCap shows them (``[instruments.labels]``; others: REDCap's
    #: default label of the form name)
    instrument_labels: dict[str, str] = field(default_factory=dict)
    #: the language of the CRF's own text, and the translations (``[[languages]]``)
    default_language: str = "en"
    languages: list[LanguageFiles] = field(default_factory=list)
    #: DAG unique name → the language of the site's documents (``language`` of ``[[dags]]``)
    dag_languages: dict[str, str] = field(default_factory=dict)
    #: form → REDCap logic on the record: for whom the form is expected (``[expected_forms]``;
    #: a form not listed is expected for every record)
    expected_forms: dict[str, str] = field(default_factory=dict)
    #: False for a project read from a Project XML, which carries no MLM translations
    translations_known: bool = True
    _translations: dict[str, Translation] = field(default_factory=dict, repr=False,
                                                  compare=False)

    def form_label(self, form: str) -> str:
        """The instrument label REDCap shows for ``form`` (English)."""
        return self.instrument_labels.get(form) or form_label(form)

    def dag_language(self, dag: str) -> str:
        """The language of a site's documents (the default language for an unknown site)."""
        return self.dag_languages.get(dag) or self.default_language

    def translation(self, language: str) -> Translation | None:
        """The CRF translation into ``language`` (its MLM file, read once), or None for the
        default language or a language the project has no translation for."""
        if language in self._translations:
            return self._translations[language]
        spec = next((lf for lf in self.languages if lf.id == language), None)
        if spec is None or self.path is None:
            return None
        self._translations[language] = load_mlm(self.path / spec.mlm)
        return self._translations[language]


@dataclass(frozen=True)
class LanguageFiles:
    """One translation of the CRF: its language id, name, and the files in the project
    folder (the MLM language file REDCap imports, and the readable source it is built from)."""

    id: str
    display: str
    mlm: str
    source: str = ""
    #: the data-query message templates in this language (sgbm_redcap.queries.messages)
    queries: str = ""


def load_project(directory: str | PathLike[str]) -> StudyProject:
    """Read ``project.toml`` and the dictionary it names from ``directory``.

    Raises ``DictionaryError`` when the metadata is missing or contradicts the dictionary
    (a repeating form or DAG that cannot exist)."""
    root = Path(directory)
    meta_path = root / "project.toml"
    meta = read_toml(meta_path, what="project metadata", name="project.toml")

    proj = meta.get("project", {})
    version = str(proj.get("version", "")).strip()
    if not version:
        raise DictionaryError("project.toml has no [project] version", file=str(meta_path),
                              column="project.version")
    dictionary = load_dictionary(root / str(proj.get("dictionary", "data_dictionary.csv")))

    repeating = meta.get("repeating", {})
    forms = [str(f) for f in repeating.get("forms", [])]
    unknown = [f for f in forms if f not in dictionary.forms]
    if unknown:
        raise DictionaryError(f"repeating forms not in the dictionary: {', '.join(unknown)}",
                              file=str(meta_path), column="repeating.forms")
    labels = {str(k): str(v) for k, v in repeating.get("labels", {}).items()}

    dags: list[tuple[str, str]] = []
    dag_languages: dict[str, str] = {}
    for i, dag in enumerate(meta.get("dags", []), start=1):
        name, label = str(dag.get("unique_name", "")), str(dag.get("label", ""))
        if not _DAG_NAME.match(name) or not label:
            raise DictionaryError(
                f"DAG #{i} needs unique_name ([a-z0-9_], at most 18 characters) and a label",
                file=str(meta_path), column=f"dags[{i}]")
        dags.append((name, label))
        if dag.get("language"):
            dag_languages[name] = str(dag["language"])
    if len({n for n, _ in dags}) != len(dags):
        raise DictionaryError("duplicate DAG unique_name", file=str(meta_path), column="dags")

    target = proj.get("enrolment_target")
    if target is not None and (isinstance(target, bool) or not isinstance(target, int)
                               or target < 1):
        raise DictionaryError("enrolment_target must be a whole number of patients (> 0)",
                              file=str(meta_path), column="project.enrolment_target")
    start = proj.get("enrolment_start")
    if start is not None and (isinstance(start, datetime) or not isinstance(start, date)):
        raise DictionaryError("enrolment_start must be a date such as 2024-08-01 (no quotes)",
                              file=str(meta_path), column="project.enrolment_start")

    missing_codes = _declared_codes(meta.get("missing_data_codes", {}), meta_path)
    instruments = {str(k): str(v) for k, v in
                   meta.get("instruments", {}).get("labels", {}).items()}
    unknown = [f for f in instruments if f not in dictionary.forms]
    if unknown:
        raise DictionaryError(f"instrument labels for forms not in the dictionary: "
                              f"{', '.join(unknown)}", file=str(meta_path),
                              column="instruments.labels")
    expected = _expected_forms(meta.get("expected_forms", {}), dictionary, meta_path)
    default_language, languages = _languages(meta, meta_path)
    known = {default_language} | {lf.id for lf in languages}
    for name, language in dag_languages.items():
        if language not in known:
            raise DictionaryError(f"DAG {name!r} has language {language!r}, which is neither "
                                  f"the default ({default_language}) nor one of "
                                  "[[languages]]", file=str(meta_path), column="dags.language")

    return StudyProject(
        dictionary=dictionary,
        version=version,
        repeating_forms=forms,
        dags=dags,
        title=str(proj.get("title", "")),
        short_name=str(proj.get("short_name", "")),
        nct=str(proj.get("nct", "")),
        enrolment_target=target,
        enrolment_start=start,
        path=root,
        repeating_labels=labels,
        record_autonumbering=bool(proj.get("record_autonumbering", True)),
        missing_codes=missing_codes,
        instrument_labels=instruments,
        default_language=default_language,
        languages=languages,
        dag_languages=dag_languages,
        expected_forms=expected,
    )


def _expected_forms(table: object, dictionary: Dictionary, meta_path: Path) -> dict[str, str]:
    """``[expected_forms]``: form → logic, each form in the dictionary and each logic parsed
    (and naming only fields of the dictionary) by the project's logic engine."""
    from sgbm_redcap.errors import LogicError
    from sgbm_redcap.logic import parse
    from sgbm_redcap.logic.refs import referenced_fields

    if not isinstance(table, dict):
        raise DictionaryError("[expected_forms] must be a table of form = \"logic\"",
                              file=str(meta_path), column="expected_forms")
    out: dict[str, str] = {}
    for form, logic in table.items():
        where = f"expected_forms.{form}"
        if form not in dictionary.forms:
            raise DictionaryError(f"[expected_forms] names {form!r}, not a form of the "
                                  "dictionary", file=str(meta_path), column=where)
        if not isinstance(logic, str) or not logic.strip():
            raise DictionaryError(f"[expected_forms] {form} must be REDCap logic in quotes",
                                  file=str(meta_path), column=where)
        try:
            parse(logic)
            unknown = [n for n in referenced_fields(logic) if n not in dictionary]
        except LogicError as exc:
            raise DictionaryError(f"[expected_forms] {form}: {exc}", file=str(meta_path),
                                  column=where) from None
        if unknown:
            raise DictionaryError(f"[expected_forms] {form} reads fields not in the "
                                  f"dictionary: {', '.join(unknown)}", file=str(meta_path),
                                  column=where)
        out[str(form)] = logic.strip()
    return out


def _languages(meta: dict, meta_path: Path) -> tuple[str, list[LanguageFiles]]:
    """``default_language`` of ``[project]`` and the ``[[languages]]`` translations."""
    default = str(meta.get("project", {}).get("default_language", "en"))
    out = []
    for i, lang in enumerate(meta.get("languages", []), start=1):
        if not lang.get("id") or not lang.get("mlm"):
            raise DictionaryError(f"[[languages]] #{i} needs an id and the mlm file",
                                  file=str(meta_path), column=f"languages[{i}]")
        out.append(LanguageFiles(str(lang["id"]), str(lang.get("display", lang["id"])),
                                 str(lang["mlm"]), str(lang.get("source", "")),
                                 str(lang.get("queries", ""))))
    return default, out


def _declared_codes(table: object, meta_path: Path) -> MissingCodes:
    """``[missing_data_codes]`` of project.toml: code = "label" lines, in order."""
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise DictionaryError('[missing_data_codes] must be lines of CODE = "label"',
                              file=str(meta_path), column="missing_data_codes")
    try:
        return missing_codes_from(table)
    except ValueError as exc:
        raise DictionaryError(str(exc), file=str(meta_path),
                              column="missing_data_codes") from None


def default_project_dir() -> Path:
    """``redcap_project/`` of this repository (the package is installed editable)."""
    return Path(__file__).resolve().parents[2] / "redcap_project"


@lru_cache(maxsize=1)
def study_project() -> StudyProject:
    """The study of this repository (``redcap_project/``), read once per process.

    The shared object is the default of every function that needs a study fact and was not
    handed a project; treat it as read-only."""
    return load_project(default_project_dir())


def unique_group_name(label: str) -> str:
    """REDCap's unique DAG name for a label: lower case, ``[a-z0-9_]``, at most 18
    characters, no trailing ``_`` ("New DAG" → ``new_dag``)."""
    name = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:18]
    return name.rstrip("_")


def load_any(path: str | PathLike[str]) -> StudyProject | Dictionary:
    """A project folder (``project.toml``), a REDCap Project XML, or a dictionary CSV."""
    p = Path(path)
    if p.is_dir():
        return load_project(p)
    if p.suffix.lower() == ".xml":
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise DictionaryError(f"cannot read: {exc.strerror or exc}", file=str(p)) from None
        xml = read_project_xml(data, str(p))
        return StudyProject(
            dictionary=xml.dictionary,
            version=xml.version,
            repeating_forms=xml.repeating_forms,
            dags=[(unique_group_name(label), label) for label in xml.dag_labels],
            title=xml.title,
            path=p,
            missing_codes=parse_missing_codes(str(xml.settings.get("missing_data_codes", ""))),
            translations_known=False,
        )
    return load_dictionary(p)
