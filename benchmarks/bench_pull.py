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
"""

from __future__ import annotations

import argparse
import os
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
from sgbm_redcap.sandbox.cohort import generate_cohort
from sgbm_redcap.sandbox.seed import seed_study
from sgbm_redcap.source import RedcapSource


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--changed", type=float, default=0.01, help="share of records edited")
    ap.add_argument("--full-repeats", type=int, default=3)
    ap.add_argument("--sweep-repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=500)
    args = ap.parse_args()

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
        for i in range(args.full_repeats):
            pull = source.pull(full=True)
            fulls.append(pull)
            print(f"  full pull {i + 1}: {pull.elapsed_s:7.2f} s "
                  f"{pull.traffic.bytes_total:>12,} bytes  {pull.n_records} records", flush=True)
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
    return 0 if byte_ratio <= 0.05 and time_ratio <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
