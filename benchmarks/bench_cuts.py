"""Data cuts (issue 15): making a cut of the 100-patient cohort and rendering the monthly
report from it, against today's ``report monthly`` (pull, checks, render); and the size of a
10,000-patient cut on disk (target < 200 MB).

Run: .venv/bin/python benchmarks/bench_cuts.py [--repeat N] [--patients N] [--no-pdf]
     .venv/bin/python benchmarks/bench_cuts.py --size 10000

Timing: the cohort is seeded once into the sandbox on 127.0.0.1 (the demo's first wave and
second wave, so the second cut has a previous one to compare with); then, alternating,
(a) today's path: a full pull through PyCap, the checks, the report (HTML + PDF) and
(b) the cut path: a full pull written as a cut, read back and verified, the checks, the report
from the cut — without a previous cut and (c) with one (its "changes since" section needs
the previous cut analysed too). Medians of ``--repeat`` rounds after a warm-up round;
wall clock and this process's CPU time (the sandbox serves from a thread of this process,
so both paths pay its CPU alike).

Size: a 10,000-patient cohort's flat export written as a cut, with a stand-in project log of
``--log-per-record`` entries per record as REDCap writes them (one per import and edit), and
``du`` of the folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn: Callable[[], object]) -> dict[str, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}


def timing(args: argparse.Namespace) -> None:
    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.jobs.synthetic import DEFAULT_SEED, two_waves
    from sgbm_redcap.sandbox import Sandbox, serve_in_thread

    project = load_project(ROOT / "redcap_project")
    waves = two_waves(project, n=args.patients, seed=DEFAULT_SEED, problem_rate=0.1)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        sandbox = Sandbox(base / "sb")
        with serve_in_thread(sandbox) as url:
            runs = _rounds(args, project, waves, sandbox, url, base)
    load = os.getloadavg()[0]
    print(f"machine load average: {load:.1f} on {os.cpu_count()} CPUs")
    med = {k: {m: statistics.median(x[m] for x in v) for m in ("wall", "cpu")}
           for k, v in runs.items()}
    for k, v in med.items():
        print(f"{k:>9}: median wall {v['wall']:.2f} s, cpu {v['cpu']:.2f} s "
              f"(ratio to today: wall {v['wall'] / med['today']['wall']:.2f}, "
              f"cpu {v['cpu'] / med['today']['cpu']:.2f})")


def _rounds(args: argparse.Namespace, project: Any, waves: Any, sandbox: Any, url: str,
            base: Path) -> dict[str, list[dict[str, float]]]:
    from sgbm_redcap.config import Settings
    from sgbm_redcap.jobs.connection import make_backend
    from sgbm_redcap.jobs.cuts import cut_source, open_cut, previous_of
    from sgbm_redcap.jobs.synthetic import seed_study
    from sgbm_redcap.reports.monthly import run_monthly_report
    from sgbm_redcap.source import RedcapSource

    pdf = not args.no_pdf
    seeded = seed_study(sandbox, cohort=waves.first, api_url=url)
    source = RedcapSource(url, seeded.token, cache_dir=False, progress=False,
                          settings=Settings(redcap_url=url))
    first_day, cutoff = waves.first.extract_date, waves.cohort.extract_date
    previous = cut_source(source, cutoff=first_day, folder=base / "cuts" / str(first_day),
                          project=project)
    make_backend("records", url, seeded.token).http.post(
        "import", {"content": "record", "type": "flat", "overwriteBehavior": "overwrite",
                   "data": json.dumps(waves.second)})

    def today(i: int) -> None:
        tables = source.tables(full=True)
        run_monthly_report(tables, cutoff=cutoff, out_dir=base / f"today-{i}",
                           project=project, pdf=pdf, data_source=url)

    def from_cut(i: int, with_previous: bool) -> None:
        root = base / f"cuts-{i}-{with_previous}"
        if with_previous:
            root.mkdir()
            os.symlink(previous.path, root / previous.path.name)
        made = cut_source(source, cutoff=cutoff, folder=root / str(cutoff), project=project)
        cut = open_cut(made.path)
        run_monthly_report(cut.tables(), cutoff=cut.cutoff, out_dir=base / f"cut-{i}",
                           project=project, pdf=pdf, data_source=cut.description, cut=cut,
                           previous_cut=previous_of(cut) if with_previous else None,
                           generated_at=cut.created_at, extract_date=cut.pulled_at)

    runs: dict[str, list[dict[str, float]]] = {"today": [], "cut": [], "cut+diff": []}
    for i in range(args.repeat + 1):
        r = {"today": _timed(partial(today, i)),
             "cut": _timed(partial(from_cut, i, False)),
             "cut+diff": _timed(partial(from_cut, i, True))}
        if i:  # round 0 warms the lazy imports
            for k, v in r.items():
                runs[k].append(v)
        print(f"round {i}{' (warm-up)' if not i else ''}: "
              + ", ".join(f"{k} {v['wall']:.2f} s wall / {v['cpu']:.2f} s cpu"
                          for k, v in r.items()), flush=True)
    return runs


def stand_in_log(raw, *, per_record: int) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """``per_record`` log entries per record shaped as REDCap writes them: each edit's
    details list the fields saved ("name = 'value'", comma-separated), here 20 of the
    record's own values."""
    base = raw[raw["redcap_repeat_instrument"] == ""]
    columns = [c for c in raw.columns if not c.startswith("redcap_")]
    entries = []
    for n, row in enumerate(base.itertuples(index=False)):
        values = dict(zip(raw.columns, row, strict=True))
        filled = [f"{c} = '{values[c]}'" for c in columns if values[c]]
        for k in range(per_record):
            chunk = filled[(k * 20) % max(1, len(filled)):][:20]
            entries.append({"timestamp": f"2026-{1 + n % 11:02d}-{1 + k % 28:02d} 10:{k % 60:02d}",
                            "username": f"site_{1 + n % 8:02d}_dm",
                            "action": f"Update record {values['record_id']}",
                            "details": ", ".join(chunk), "record": values["record_id"]})
    return entries


def size(args: argparse.Namespace) -> None:
    from sgbm_redcap.cuts import CutContent, write_cut
    from sgbm_redcap.cuts.create import dictionary_csv, project_setup
    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.source.tables import normalise_raw
    from sgbm_redcap.synthetic.cohort import generate_cohort

    project = load_project(ROOT / "redcap_project")
    t0 = time.perf_counter()
    cohort = generate_cohort(n=args.size, seed=20240801, problem_rate=0.1)
    raw = normalise_raw(cohort.to_frame(dictionary=project.dictionary, with_dag=True),
                        "record_id")
    print(f"cohort of {args.size}: {len(raw)} rows x {raw.shape[1]} columns "
          f"({time.perf_counter() - t0:.1f} s)")
    log = stand_in_log(raw, per_record=args.log_per_record)
    content = CutContent(raw=raw, metadata_csv=dictionary_csv(project.dictionary),
                         setup=project_setup(project.repeating_forms, project.dags),
                         log_entries=log, source="benchmark", pulled_at="", watermark="",
                         log_since="")
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        cut = write_cut(Path(tmp) / str(date(2026, 11, 25)),
                        content.files(cutoff=date(2026, 11, 25), project=project,
                                      previous=None))
        written = time.perf_counter() - t1
        sizes = {p.name: p.stat().st_size for p in cut.path.iterdir()}
        total = sum(sizes.values())
        for name, n in sorted(sizes.items(), key=lambda kv: -kv[1]):
            print(f"  {name:14} {n / 1e6:9.2f} MB")
        print(f"cut of {args.size} patients: {total / 1e6:.1f} MB on disk "
              f"({total / 2**20:.1f} MiB; written and verified in {written:.1f} s) -> "
              f"{'PASS' if total < 200e6 else 'FAIL'} (< 200 MB)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--no-pdf", action="store_true")
    parser.add_argument("--size", type=int, default=0,
                        help="Measure the size of a cut of this many patients instead.")
    parser.add_argument("--log-per-record", type=int, default=12)
    args = parser.parse_args()
    if args.size:
        size(args)
    else:
        timing(args)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    main()
