"""Dictionary tooling speed: load, lint, diff and Project XML on the study dictionary and on
the largest real dictionaries of the corpus. Prints medians of repeated runs and ratios.

    .venv/bin/python benchmarks/bench_dictionary.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sgbm_redcap.dictionary import load_dictionary  # noqa: E402
from sgbm_redcap.dictionary.diff import diff_dictionaries  # noqa: E402
from sgbm_redcap.dictionary.lint import lint  # noqa: E402
from sgbm_redcap.dictionary.odm import build_project_xml, read_project_xml  # noqa: E402
from sgbm_redcap.dictionary.project import load_project  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "dictionaries"
LARGE = {
    "REDCapDM 2,480 fields / 2,297 branching": CORPUS / "018_bruigtp_REDCapDM_Example1_DataDictionary.csv",
    "REDCapR super-wide 3,001 fields": CORPUS / "103_OuhscBbmc_REDCapR_super-wide-1-dictionary.csv",
}


def median_seconds(fn: Callable[[], object], repeat: int = 7) -> float:
    fn()  # warm up (imports, caches)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    project = load_project(REPO / "redcap_project")
    study = project.dictionary
    study_path = REPO / "redcap_project" / "data_dictionary.csv"
    rows = []
    t_load = median_seconds(lambda: load_dictionary(study_path))
    t_lint = median_seconds(lambda: lint(study))
    t_diff = median_seconds(lambda: diff_dictionaries(study, load_dictionary(study_path)))
    xml = build_project_xml(project)
    t_xml = median_seconds(lambda: build_project_xml(project))
    t_read = median_seconds(lambda: read_project_xml(xml))
    n = len(study)
    rows += [
        ("study: load CSV", t_load, n), ("study: lint", t_lint, n),
        ("study: diff against itself (incl. load)", t_diff, n),
        ("study: build Project XML", t_xml, n), ("study: read Project XML back", t_read, n),
    ]
    for label, path in LARGE.items():
        d = load_dictionary(path)
        rows.append((f"{label}: load", median_seconds(lambda p=path: load_dictionary(p), 5), len(d)))
        rows.append((f"{label}: lint", median_seconds(lambda d=d: lint(d), 3), len(d)))
    files = sorted(CORPUS.glob("*.csv"))
    n_all = sum(len(load_dictionary(p)) for p in files)
    t_corpus = median_seconds(lambda: [lint(load_dictionary(p)) for p in files], 3)
    rows.append((f"whole corpus ({len(files)} files): load + lint", t_corpus, n_all))

    print(f"{'workload':58} {'median':>10} {'fields':>7} {'us/field':>9}")
    for label, t, fields in rows:
        print(f"{label:58} {t * 1000:8.1f}ms {fields:7d} {t / fields * 1e6:9.1f}")
    print(f"ratio lint/load (study): {t_lint / t_load:.1f}x")
    big = next(r for r in rows if r[0].startswith("REDCapDM") and r[0].endswith("lint"))
    print(f"ratio per field, 2,480-field file lint vs study lint: "
          f"{(big[1] / big[2]) / (t_lint / n):.2f}x (1.0 = linear)")


if __name__ == "__main__":
    main()
