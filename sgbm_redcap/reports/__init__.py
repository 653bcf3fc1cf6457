"""Reports: the monthly interim report, the data-quality report, site query listings and the
codebook, rendered from typed contexts through one autoescaping Jinja environment (HTML) and
WeasyPrint (PDF). See docs/report.md."""

from __future__ import annotations

from sgbm_redcap.reports.contexts import (
    Cover,
    Figure,
    KeyFigure,
    KeyFigures,
    Paragraph,
    ReportContext,
    Section,
    Table,
)
from sgbm_redcap.reports.env import render
from sgbm_redcap.reports.pdf import html_to_pdf, write_html_pdf

__all__ = [
    "Cover",
    "Figure",
    "KeyFigure",
    "KeyFigures",
    "Paragraph",
    "ReportContext",
    "Section",
    "Table",
    "html_to_pdf",
    "write_html_pdf",
    "render",
]
