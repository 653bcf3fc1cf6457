"""Shared paths and small builders for the dictionary tests."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from corpus import CORPUS, CORPUS_API, CORPUS_DICTS  # noqa: F401  (re-exported)

from sgbm_redcap.dictionary.model import UI_HEADER

REPO = Path(__file__).resolve().parents[1]
PROJECT_DIR = REPO / "redcap_project"
STUDY_CSV = PROJECT_DIR / "data_dictionary.csv"


def corpus_files() -> list[Path]:
    return sorted(CORPUS_DICTS.glob("*.csv"))


def corpus_sources() -> list[dict[str, str]]:
    with open(CORPUS_DICTS / "SOURCES.tsv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def make_csv(rows: list[dict[str, str]], header: tuple[str, ...] = UI_HEADER) -> str:
    """A dictionary CSV from rows given as {canonical-ish short key: value}.

    Keys: name, form, section, type, label, choices, note, validation, min, max, identifier,
    branching, required, alignment, question, matrix, ranking, annotation."""
    keys = ("name", "form", "section", "type", "label", "choices", "note", "validation", "min",
            "max", "identifier", "branching", "required", "alignment", "question", "matrix",
            "ranking", "annotation")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        full = {"form": "f", "type": "text", "label": row.get("name", "x"), **row}
        w.writerow([full.get(k, "") for k in keys][: len(header)])
    return buf.getvalue()
