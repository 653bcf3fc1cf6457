"""Typed contexts for the report templates.

A report is a :class:`Cover` plus a list of :class:`Section`; a section holds blocks
(:class:`Table`, :class:`Figure`, :class:`Paragraph`, :class:`KeyFigures`) and optional
sub-sections. Templates only lay these out; every number is formatted before it gets here
(see :mod:`sgbm_redcap.reports.formatting`), so the same strings can be checked in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Union

from markupsafe import Markup

if TYPE_CHECKING:
    from sgbm_redcap.dictionary.project import StudyProject


@dataclass(frozen=True)
class Table:
    """A table of pre-formatted cells. ``group_rows`` are indices of rows drawn as group
    headings (e.g. "ECOG" above its levels); ``first_col_label`` columns are text, the rest
    numbers (right-aligned)."""

    id: str
    caption: str
    columns: list[str]
    rows: list[list[str]]
    footnote: str = ""
    group_rows: frozenset[int] = frozenset()
    text_columns: int = 1
    empty_message: str = "None."
    wide: bool = False


@dataclass(frozen=True)
class Figure:
    """A figure as inline SVG (vector in both HTML and PDF)."""

    id: str
    caption: str
    svg: Markup
    note: str = ""


@dataclass(frozen=True)
class Paragraph:
    text: str
    kind: str = "text"  # "text" | "note" | "warning"


@dataclass(frozen=True)
class KeyFigure:
    label: str
    value: str
    detail: str = ""


@dataclass(frozen=True)
class KeyFigures:
    """A row of headline numbers (e.g. enrolled / target, iORR, median iPFS)."""

    id: str
    items: list[KeyFigure]


Block = Union[Table, Figure, Paragraph, KeyFigures]  # noqa: UP007 (isinstance-friendly)


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)
    page_break: bool = True
    #: the section's language when it is not the report's (a site page in the site's)
    lang: str = ""

    def find(self, block_id: str) -> Block | None:
        """The block with ``block_id`` here or in a sub-section (tests and builders use it)."""
        for block in self.blocks:
            if getattr(block, "id", None) == block_id:
                return block
        for sub in self.subsections:
            found = sub.find(block_id)
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class Cover:
    """The first page: what was analysed, when, with which versions.

    Build it with :func:`study_cover`, which takes the study's title, registry id and name
    from the project (``redcap_project/project.toml``)."""

    report_title: str
    study_title: str
    registry_id: str
    cutoff_date: date
    extract_date: datetime | None
    dictionary_version: str
    data_source: str
    generated_at: datetime
    package_versions: list[tuple[str, str]]
    report_version: str = "1"
    confidentiality: str = (
        "Confidential: for the study's steering committee. Aggregated data; no direct "
        "identifiers are shown."
    )
    #: the study's short name (``project.toml`` short_name), for running headers
    study_name: str = ""
    #: the data cut the report was made from and its manifest's sha256 ('' = not a cut)
    data_cut: str = ""


def study_cover(report_title: str, cutoff_date: date, *, extract_date: datetime | None,
                dictionary_version: str, data_source: str, generated_at: datetime,
                package_versions: list[tuple[str, str]],
                project: StudyProject | None = None, data_cut: str = "") -> Cover:
    """A :class:`Cover` whose study title, registry id (NCT) and confidentiality note name
    the study of ``project`` (default: the study of this repository)."""
    if project is None:
        from sgbm_redcap.dictionary.project import study_project

        project = study_project()
    return Cover(report_title, project.title, project.nct, cutoff_date, extract_date,
                 dictionary_version, data_source, generated_at, package_versions,
                 confidentiality=(f"Confidential: for the {project.short_name} steering "
                                  "committee. Aggregated data; no direct identifiers are "
                                  "shown."),
                 study_name=project.short_name, data_cut=data_cut)


@dataclass
class ExecutiveSummary:
    """Page 1 of the monthly report (``templates/monthly/executive_summary.html.j2``):
    headline figures, one sentence per topic, what needs the committee's attention (derived
    from the data; empty when nothing does) and ``changes_summary``, the sentence on what
    changed since the previous data cut (filled by the data-cut job; rendered when not
    empty)."""

    key: KeyFigures
    paragraphs: list[Paragraph]
    attention: list[str]
    changes_summary: str = ""


@dataclass
class ReportContext:
    """Context of ``monthly_report.html.j2`` and ``data_quality.html.j2``; ``summary`` is the
    monthly report's executive summary (None: not shown)."""

    cover: Cover
    sections: list[Section]
    running_header: str
    summary: ExecutiveSummary | None = None

    def section(self, section_id: str) -> Section:
        for s in self.sections:
            if s.id == section_id:
                return s
        raise KeyError(section_id)

    def find(self, block_id: str) -> Block | None:
        for s in self.sections:
            found = s.find(block_id)
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class CodebookField:
    name: str
    label: str
    field_type: str
    validation: str
    range: str
    choices: list[tuple[str, str]]
    required: bool
    identifier: bool
    branching_logic: str
    note: str
    section_header: str
    #: the second language of a side-by-side codebook ("" otherwise): label, note, section
    #: header and choice labels (same codes, same order)
    label_2: str = ""
    note_2: str = ""
    section_header_2: str = ""
    choices_2: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class CodebookForm:
    name: str
    label: str
    repeating: bool
    fields: list[CodebookField]
    label_2: str = ""


@dataclass
class CodebookContext:
    """Context of ``codebook.html.j2``: the dictionary as a document for sites."""

    title: str
    dictionary_version: str
    generated_at: datetime
    forms: list[CodebookForm]
    n_fields: int
    running_header: str
    #: the page's language (``html lang``), the toolkit's words in it, and the two column
    #: headings of a side-by-side codebook (empty for a one-language codebook)
    lang: str = "en"
    ui: dict[str, str] = field(default_factory=dict)
    languages: list[str] = field(default_factory=list)
    language_names: list[str] = field(default_factory=list)
    intro: str = ""
    badges: str = ""
