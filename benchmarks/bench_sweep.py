"""Benchmark: one full query sweep (pull → checks → reconcile → post → listings).

* 100 patients: against a seeded sandbox over loopback HTTP through the real client (pull
  with RedcapSource, queries posted with import_records). Target < 10 s (median).
* 10,000 patients: the records are read from a flat CSV export (FileSource: seeding 10,000
  patients into the sandbox over HTTP takes longer than the sweep itself); the queries are
  posted to a sandbox over HTTP. Run in a child process so the peak memory (ru_maxrss of
  that process) is the sweep's alone. Targets < 120 s and < 2 GB (medians).

    .venv/bin/python benchmarks/bench_sweep.py [--reps 3] [--large 10000] [--skip-large]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 25)


def sweep_small(n: int) -> dict[str, float]:
    from sgbm_redcap.config import Settings
    from sgbm_redcap.jobs import make_backend, study_dictionary
    from sgbm_redcap.queries import AuditLog
    from sgbm_redcap.sandbox import Sandbox, serve_in_thread
    from sgbm_redcap.source import RedcapSource
    from sgbm_redcap.sweep import run_sweep
    from sgbm_redcap.synthetic.seed import seed_study

    with tempfile.TemporaryDirectory() as tmp:
        sb = Sandbox(tmp)
        with serve_in_thread(sb) as url:
            seeded = seed_study(sb, n=n, problem_rate=0.1, api_url=url)
            source = RedcapSource(url, seeded.token, cache_dir=False, progress=False,
                                  settings=Settings())
            dictionary = study_dictionary()
            out = {}
            for label in ("first", "second"):
                t0 = time.perf_counter()
                r = run_sweep(source, make_backend("records", url, seeded.token),
                              audit=AuditLog(Path(tmp) / "audit.jsonl"), dictionary=dictionary,
                              today=TODAY, listings_dir=Path(tmp) / "listings")
                out[label] = time.perf_counter() - t0
                out[f"{label}_posted"] = r.sent
                out[f"{label}_checks"] = r.timings["checks"]
            return out


def peak_mb() -> float:
    """This process's peak resident memory. VmHWM (Linux) belongs to this process image;
    ru_maxrss would also count the parent's peak from before the child's exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _large_child(csv_path: str, url: str, token: str, queue: mp.Queue) -> None:
    from sgbm_redcap.jobs import make_backend, study_dictionary
    from sgbm_redcap.queries import AuditLog
    from sgbm_redcap.source import FileSource
    from sgbm_redcap.sweep import run_sweep

    dictionary = study_dictionary()
    t0 = time.perf_counter()
    r = run_sweep(FileSource(csv_path, dictionary), make_backend("records", url, token),
                  audit=AuditLog(Path(csv_path).with_suffix(".audit.jsonl")),
                  dictionary=dictionary, today=TODAY,
                  listings_dir=Path(csv_path).parent / "listings")
    seconds = time.perf_counter() - t0
    queue.put({"seconds": seconds, "peak_mb": peak_mb(), "findings": len(r.findings),
               "posted": r.sent,
        **{k: round(v, 1) for k, v in r.timings.items()}})


def export_large(n: int, folder: Path) -> Path:
    """The n-patient cohort (10% with a planted problem) as a flat CSV export."""
    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.jobs import study_dictionary
    from sgbm_redcap.synthetic.cohort import generate_cohort

    project = load_project(ROOT / "redcap_project")
    cohort = generate_cohort(n, problem_rate=0.1, sites=project.dags[:5])
    csv_path = folder / "records.csv"
    cohort.to_frame(dictionary=study_dictionary(), with_dag=True).to_csv(csv_path, index=False)
    return csv_path


def sweep_large(csv_path: Path, rep: int) -> dict[str, float]:
    """One sweep of the export in a fresh child process, posting to a fresh sandbox."""
    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.sandbox import Sandbox, serve_in_thread

    project = load_project(ROOT / "redcap_project")
    sb = Sandbox(csv_path.parent / f"sb{rep}")
    token = sb.create_project((ROOT / "redcap_project" / "data_dictionary.csv").read_bytes(),
                              repeating_forms=project.repeating_forms, dags=list(project.dags))
    with serve_in_thread(sb) as url:
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=_large_child, args=(str(csv_path), url, token, queue))
        child.start()
        result = queue.get()
        child.join()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--small", type=int, default=100)
    ap.add_argument("--large", type=int, default=10_000)
    ap.add_argument("--skip-large", action="store_true")
    args = ap.parse_args(argv)

    small = [sweep_small(args.small) for _ in range(args.reps)]
    first = statistics.median(r["first"] for r in small)
    second = statistics.median(r["second"] for r in small)
    print(f"sweep of {args.small} patients (sandbox over HTTP), median of {args.reps}: "
          f"first {first:.2f} s (posts {small[0]['first_posted']}), "
          f"second {second:.2f} s (posts {small[0]['second_posted']}); "
          f"checks {statistics.median(r['first_checks'] for r in small):.2f} s; "
          f"target < 10 s: ratio {first / 10:.2f}")
    ok = first < 10
    if not args.skip_large:
        with tempfile.TemporaryDirectory() as tmp:
            csv_path = export_large(args.large, Path(tmp))
            large = [sweep_large(csv_path, rep) for rep in range(args.reps)]
        secs = statistics.median(r["seconds"] for r in large)
        peak = statistics.median(r["peak_mb"] for r in large)
        print(f"sweep of {args.large} patients (CSV export, queries to the sandbox), median "
              f"of {args.reps}: {secs:.1f} s, peak memory {peak:.0f} MB "
              f"(findings {large[0]['findings']}, posted {large[0]['posted']}; "
              f"stages {dict((k, large[0][k]) for k in ('pull', 'checks', 'read_queries', 'post', 'listings'))}); "
              f"targets < 120 s: ratio {secs / 120:.2f}, < 2048 MB: ratio {peak / 2048:.2f}")
        ok = ok and secs < 120 and peak < 2048
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
