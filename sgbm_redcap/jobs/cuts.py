"""The data-cut jobs: make a cut, read one back (verified), compare two.

``cut create`` pulls once and freezes everything a report needs into ``cuts/<cutoff>/``;
``report monthly --cut`` renders from that folder alone; ``cut diff A B`` says what changed.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from sgbm_redcap.cuts import Cut, CutDiff, collect, latest_cut, read_cut, refuse_existing
from sgbm_redcap.cuts import diff_cuts as _diff_cuts
from sgbm_redcap.cuts import write_cut as _write_cut
from sgbm_redcap.cuts.store import DIR_MODE
from sgbm_redcap.dictionary.project import StudyProject
from sgbm_redcap.errors import ConfigError
from sgbm_redcap.jobs.guards import (
    check_cutoff_after_enrolment,
    check_cutoff_not_future,
    writable_dir,
    writable_file,
)
from sgbm_redcap.jobs.study import Study
from sgbm_redcap.source import FileSource, RedcapSource

__all__ = ["DEFAULT_CUTS_DIR", "DIFF_FORMATS", "create_cut", "cut_source", "diff_cuts",
           "open_cut", "previous_of"]

#: where ``cut create`` puts ``<cutoff>/`` unless told otherwise
DEFAULT_CUTS_DIR = Path("cuts")
DIFF_FORMATS = ("json", "csv", "html")


def create_cut(study: Study, *, cutoff: date, out_dir: Path | str | None = None,
               replace: bool = False, force: bool = False,
               cuts_dir: Path | str | None = None) -> Cut:
    """Make the data cut for ``cutoff`` in ``out_dir`` (default
    ``<cuts_dir>/<cutoff>/``, ``cuts_dir`` default ``cuts/``) from the study's source.

    At the door: the cut-off is not in the future, the folder holds no cut (unless
    ``replace``), its parent can be written. The previous cut is the newest one beside
    it; the log slice starts where that one's ended. Nothing is written when the cut-off
    falls before the first enrolment (unless ``force``)."""
    check_cutoff_not_future(cutoff, force=force)
    folder = Path(out_dir) if out_dir is not None else (
        Path(cuts_dir or DEFAULT_CUTS_DIR) / cutoff.isoformat())
    refuse_existing(folder, replace=replace)
    if not folder.parent.exists():
        folder.parent.mkdir(parents=True, mode=DIR_MODE)
    writable_dir(folder.parent, option="--out")
    with study.connect() as conn:
        return cut_source(conn.source, cutoff=cutoff, folder=folder, project=study.project,
                          replace=replace, force=force)


def cut_source(source: RedcapSource | FileSource, *, cutoff: date, folder: Path,
               project: StudyProject, replace: bool = False, force: bool = False) -> Cut:
    """The cut of ``source`` into ``folder`` (the demo calls this with its sandbox): the
    previous cut is the newest one beside ``folder``."""
    previous = latest_cut(folder.parent, exclude=folder)
    content = collect(source, project=project, previous=previous)
    check_cutoff_after_enrolment(cutoff, content.raw, force=force)
    return _write_cut(folder, content.files(cutoff=cutoff, project=project,
                                            previous=previous), replace=replace)


def open_cut(path: Path | str) -> Cut:
    """The cut in ``path``, verified against its manifest (``CutIntegrityError``
    naming the file otherwise)."""
    return read_cut(path)


def previous_of(cut: Cut) -> Cut | None:
    """The previous cut ``cut`` recorded when it was made, from beside it (verified, and
    refused when it is no longer the cut that was recorded); None for a first cut or when
    that folder is gone."""
    recorded = cut.info.get("previous")
    if not recorded:
        return None
    folder = cut.path.parent / str(recorded["folder"])
    if not folder.is_dir():
        return None
    previous = read_cut(folder)
    if previous.manifest_sha256 != recorded.get("manifest_sha256"):
        from sgbm_redcap.errors import CutIntegrityError

        raise CutIntegrityError(
            f"the previous cut {folder} is not the one {cut.path} was compared with (its "
            "manifest changed: it was re-made or altered); compare them with 'cut diff' "
            "explicitly", path=str(folder), file="manifest.json")
    return previous


def diff_cuts(old: Path | str, new: Path | str, *, out: Path | str | None = None,
              fmt: str = "json", study: Study | None = None) -> tuple[CutDiff, str]:
    """Compare two cuts (both verified first); the diff and its text in ``fmt`` (json,
    csv or html), also written to ``out`` when given."""
    if fmt not in DIFF_FORMATS:
        raise ConfigError(f"unknown format {fmt!r}: use one of {', '.join(DIFF_FORMATS)}",
                          setting="format")
    target = writable_file(out, option="--out") if out is not None else None
    a, b = read_cut(old), read_cut(new)
    diff = _diff_cuts(a, b)
    text = diff_text(diff, fmt, b, study=study)
    if target is not None:
        target.write_text(text, encoding="utf-8")
        os.chmod(target, 0o600)  # it lists study data, like the cuts themselves
    return diff, text


def diff_text(diff: CutDiff, fmt: str, new: Cut, *, study: Study | None = None) -> str:
    """A diff as ``cut diff --format`` writes it (``new``: the newer cut, whose dictionary
    labels the HTML)."""
    if fmt == "json":
        return json.dumps(diff.to_dict(), indent=1, ensure_ascii=False, default=str) + "\n"
    if fmt == "csv":
        return str(diff.rows().to_csv(index=False, lineterminator="\n"))
    from sgbm_redcap.reports.changes import diff_report
    from sgbm_redcap.reports.env import render

    return render("monthly_report.html.j2", diff_report(
        diff, new.dictionary, project=study.project if study is not None else None))
