"""Benchmark: a full pull vs a sweep after 1% of the records changed (issue 5).

Targets: the sweep transfers at most 5% of the bytes of a full pull and takes at most 10% of
its time. Runs the sandbox in its own process (so server and client do not share a GIL),
seeds it over the API with the synthetic SG-BM-RWS cohort, then times:

* full pulls (``RedcapSource.pull(full=True)``), and
* sweeps (``RedcapSource.pull()``), each after editing a fresh 1% of the records,

and prints medians, ratios and PASS/FAIL. ``tables()`` (typing) is timed separately: it is
the same work after either kind of pull.

    .venv/bin/python benchmarks/bench_pull.py                 # 10,000 records
    .venv/bin/python benchmarks/bench_pull.py --records 500   # a quick look

``--against-pycap`` times, alternating in the same run against the same sandbox, PyCap's own
``Project(url, token).export_records(format_type="df")`` and ``RedcapSource.tables(full=True)``
(the batched full pull, the cache write and the typing), prints both medians and the ratio
(target <= 1.5), then the sweeps as above (the byte ratio's full-pull side is those pulls):

    .venv/bin/python benchmarks/bench_pull.py --against-pycap --records 1000 --full-repeats 5
    .venv/bin/python benchmarks/bench_pull.py --against-pycap --records 100   # the byte ratio

``--typing-only`` skips the server and times ``build_tables`` on the cohort's flat export
read back from parquet (what ``tables()`` types after a pull). ``--against REV`` times the
``sgbm_redcap`` of git revision REV on the same rows in the same run (alternating, each in its
own process), checks that both give identical tables, dtypes and type_problems, and prints
both medians and their ratio:

    .venv/bin/python benchmarks/bench_pull.py --typing-only --against HEAD~1
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import redcap

from sgbm_redcap.config import Settings
from sgbm_redcap.source import RedcapSource
from sgbm_redcap.synthetic.cohort import generate_cohort
from sgbm_redcap.synthetic.seed import seed_study


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(data_dir: Path, port: int, super_token: str) -> subprocess.Popen:
    code = "from sgbm_redcap.cli import main; main()"
    env = dict(os.environ, SGBM_SANDBOX_SUPER_TOKEN=super_token)
    proc = subprocess.Popen([sys.executable, "-c", code, "sandbox", "serve", "--port", str(port),
                             "--data", str(data_dir)], stdout=subprocess.DEVNULL, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the sandbox did not start")


def _wait_for_next_minute() -> None:
    """REDCap's log has minute resolution; a real sweep runs hours after the seeding, so do
    not let the seeding's own minute fall inside the measured window."""
    time.sleep(61 - datetime.now().second)


ROOT = Path(__file__).resolve().parents[1]


def _typing_worker(rows: Path, out: Path) -> None:
    """One timed ``build_tables`` in this process (whichever sgbm_redcap is importable)."""
    import logging

    import pandas as pd

    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.source import build_tables

    logging.disable(logging.WARNING)  # the planted type problems are expected
    project = load_project(ROOT / "redcap_project")
    raw = pd.read_parquet(rows)
    started = time.perf_counter()
    tables = build_tables(raw, project.dictionary, repeating_forms=project.repeating_forms)
    elapsed = time.perf_counter() - started
    out.write_bytes(pickle.dumps({"elapsed": elapsed, "tables": dict(tables.tables),
                                  "type_problems": tables.type_problems}))


def _typing_run(rows: Path, out: Path, tree: Path | None) -> dict:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    code = ("import sys; sys.path.insert(0, sys.argv[3]) if sys.argv[3] else None; "
            "import sgbm_redcap, pathlib; "
            "assert pathlib.Path(sgbm_redcap.__file__).is_relative_to(sys.argv[3] or sys.argv[4]); "
            "sys.path.insert(0, sys.argv[4] + '/benchmarks'); import bench_pull; "
            "bench_pull._typing_worker(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, str(rows), str(out), str(tree or ""), str(ROOT)],
                   check=True, env=env)
    return pickle.loads(out.read_bytes())


def _same_results(a: dict, b: dict) -> list[str]:
    import pandas as pd

    differences = []
    if list(a["tables"]) != list(b["tables"]):
        differences.append("different forms")
    for form in a["tables"]:
        try:
            pd.testing.assert_frame_equal(a["tables"][form], b["tables"].get(form),
                                          check_dtype=True, check_exact=True)
        except AssertionError as exc:
            differences.append(f"{form}: {str(exc).splitlines()[0]}")
    try:
        pd.testing.assert_frame_equal(a["type_problems"], b["type_problems"], check_exact=True)
    except AssertionError as exc:
        differences.append(f"type_problems: {str(exc).splitlines()[0]}")
    return differences


def typing_only(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench_typing_"))
    from sgbm_redcap.dictionary.project import load_project

    project = load_project(ROOT / "redcap_project")
    cohort = generate_cohort(n=args.records, problem_rate=args.problem_rate)
    rows = work / "rows.parquet"
    cohort.to_frame(dictionary=project.dictionary).to_parquet(rows, index=False)
    old_tree = None
    if args.against:
        old_tree = work / "old"
        old_tree.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.against, "sgbm_redcap"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive, check=True)
    runs = [("current", None)] + ([(args.against, old_tree)] if args.against else [])
    times: dict[str, list[float]] = {label: [] for label, _tree in runs}
    results: dict[str, dict] = {}
    for i in range(args.typing_repeats):
        for label, tree in runs:
            result = _typing_run(rows, work / f"out_{i}.pickle", tree)
            times[label].append(result["elapsed"])
            results.setdefault(label, result)
            print(f"  {label:>10} build_tables: {result['elapsed']:6.2f} s", flush=True)
    n_rows = len(pd_read(rows))
    print(f"\nrecords: {args.records} ({n_rows} export rows), CPUs {os.cpu_count()}")
    current = statistics.median(times["current"])
    print(f"typing (build_tables) median, current: {current:6.2f} s  "
          f"(n={len(times['current'])})")
    if args.against:
        old = statistics.median(times[args.against])
        print(f"typing (build_tables) median, {args.against}: {old:6.2f} s  "
              f"(n={len(times[args.against])})")
        print(f"ratio current/{args.against}: {current / old:.2f}  (speed-up {old / current:.1f}x)")
        differences = _same_results(results["current"], results[args.against])
        print("results (tables, dtypes, type_problems): "
              + ("identical" if not differences else "DIFFERENT: " + "; ".join(differences)))
        return 1 if differences else 0
    return 0


def pd_read(path: Path):
    import pandas as pd

    return pd.read_parquet(path, columns=["record_id"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--typing-only", action="store_true",
                    help="time build_tables alone, without a server")
    ap.add_argument("--against", default="", help="with --typing-only: git revision to compare")
    ap.add_argument("--typing-repeats", type=int, default=3)
    ap.add_argument("--problem-rate", type=float, default=0.05,
                    help="with --typing-only: share of records with planted problems "
                         "(type problems among them)")
    ap.add_argument("--changed", type=float, default=0.01, help="share of records edited")
    ap.add_argument("--full-repeats", type=int, default=3)
    ap.add_argument("--sweep-repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--against-pycap", action="store_true",
                    help="time PyCap's export_records(format_type='df') and our full pull + "
                         "tables() side by side (alternating, --full-repeats each) and print "
                         "both medians and the ratio (target <= 1.5)")
    args = ap.parse_args()
    if args.typing_only:
        return typing_only(args)

    work = Path(tempfile.mkdtemp(prefix="bench_pull_"))
    port = _free_port()
    super_token = secrets.token_hex(32).upper()  # the sandbox's, held only in memory
    server = _serve(work / "sandbox", port, super_token)
    url = f"http://127.0.0.1:{port}/api/"
    try:
        print(f"seeding {args.records} records into the sandbox at {url} ...", flush=True)
        started = time.perf_counter()
        cohort = generate_cohort(n=args.records, problem_rate=0.0)
        token = seed_study(url, super_token=super_token, cohort=cohort, batch_size=500).token
        print(f"  seeded in {time.perf_counter() - started:.0f} s "
              f"({len(cohort.records)} rows)", flush=True)
        _wait_for_next_minute()
        settings = Settings(cache_dir=work / "cache", batch_size=args.batch_size,
                            timeout_s=600, retries=2)
        source = RedcapSource(url, token, settings=settings, progress=False)
        fulls, sweeps = [], []
        pycap_s: list[float] = []
        ours_s: list[float] = []
        for i in range(args.full_repeats):
            if args.against_pycap:
                pycap_s.append(_pycap_df(url, token))
                t0 = time.perf_counter()
                pull = source.tables(full=True).pull
                ours_s.append(time.perf_counter() - t0)
                print(f"  PyCap export_records(df): {pycap_s[-1]:7.2f} s   "
                      f"pull(full) + tables(): {ours_s[-1]:7.2f} s  "
                      f"{pull.traffic.bytes_total:>12,} bytes  {pull.n_records} records",
                      flush=True)
            else:
                pull = source.pull(full=True)
                print(f"  full pull {i + 1}: {pull.elapsed_s:7.2f} s "
                      f"{pull.traffic.bytes_total:>12,} bytes  {pull.n_records} records",
                      flush=True)
            fulls.append(pull)
        t0 = time.perf_counter()
        source.tables()
        typing_after_full = time.perf_counter() - t0
        project = redcap.Project(url, token)
        rng = random.Random(5)
        ids = sorted({str(r["record_id"]) for r in cohort.records})
        n_changed = max(1, round(len(ids) * args.changed))
        for i in range(args.sweep_repeats):
            edited = rng.sample(ids, n_changed)
            project.import_records([{"record_id": rid, "inelig_reason": f"bench edit {i}"}
                                    for rid in edited])
            pull = source.pull()
            sweeps.append(pull)
            print(f"  sweep {i + 1}:     {pull.elapsed_s:7.2f} s "
                  f"{pull.traffic.bytes_total:>12,} bytes  {len(pull.changed_records)} fetched "
                  f"({n_changed} edited)", flush=True)
            assert set(edited) <= set(pull.changed_records), "a sweep missed an edit"
        t0 = time.perf_counter()
        tables = source.tables()
        typing_after_sweeps = time.perf_counter() - t0
        assert set(tables["enrolment"].query("inelig_reason.notna()")["record_id"]) >= set(edited)
    finally:
        server.terminate()
        server.wait(timeout=30)

    full_s = statistics.median(p.elapsed_s for p in fulls)
    full_b = statistics.median(p.traffic.bytes_total for p in fulls)
    sweep_s = statistics.median(p.elapsed_s for p in sweeps)
    sweep_b = statistics.median(p.traffic.bytes_total for p in sweeps)
    byte_ratio, time_ratio = sweep_b / full_b, sweep_s / full_s
    print(f"\nrecords: {args.records}, edited per sweep: {n_changed} "
          f"({args.changed:.0%}), batch size {args.batch_size}, CPUs {os.cpu_count()}")
    print(f"full pull  median: {full_s:8.2f} s  {full_b:>14,.0f} bytes  (n={len(fulls)})")
    print(f"sweep pull median: {sweep_s:8.2f} s  {sweep_b:>14,.0f} bytes  (n={len(sweeps)})")
    print(f"bytes ratio sweep/full: {byte_ratio:.2%}  (target <= 5%)  "
          f"{'PASS' if byte_ratio <= 0.05 else 'FAIL'}")
    print(f"time  ratio sweep/full: {time_ratio:.2%}  (target <= 10%) "
          f"{'PASS' if time_ratio <= 0.10 else 'FAIL'}")
    print(f"bytes received per call, full pull: {fulls[-1].traffic.received_by_call}")
    print(f"bytes received per call, sweep:     {sweeps[-1].traffic.received_by_call}")
    print(f"typing (tables()) after a full pull: {typing_after_full:.2f} s; after "
          f"{len(sweeps)} sweeps (merging their deltas): {typing_after_sweeps:.2f} s")
    passed = byte_ratio <= 0.05 and time_ratio <= 0.10
    if args.against_pycap:
        pycap, ours = statistics.median(pycap_s), statistics.median(ours_s)
        ratio = ours / pycap
        print(f"PyCap Project(url, token).export_records(format_type='df') median: "
              f"{pycap:6.2f} s  (n={len(pycap_s)}: {', '.join(f'{t:.2f}' for t in pycap_s)})")
        print(f"RedcapSource.tables(full=True) (pull + cache + typing) median:  "
              f"{ours:6.2f} s  (n={len(ours_s)}: {', '.join(f'{t:.2f}' for t in ours_s)})")
        print(f"ratio ours/PyCap: {ratio:.2f}  (target <= 1.5)  "
              f"{'PASS' if ratio <= 1.5 else 'FAIL'}")
        passed = passed and ratio <= 1.5
    return 0 if passed else 1


def _pycap_df(url: str, token: str) -> float:
    """PyCap's own DataFrame export, as a script would call it (a fresh Project: it exports
    the metadata for the index, then all records in one request, parsed by pandas)."""
    import warnings

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' mixed-types DtypeWarning on the export
        frame = redcap.Project(url, token).export_records(format_type="df")
    elapsed = time.perf_counter() - started
    assert len(frame), "PyCap exported no rows"
    return elapsed


if __name__ == "__main__":
    sys.exit(main())
