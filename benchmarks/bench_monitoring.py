"""Central monitoring (issue 17): computing every key risk indicator and judging it against
the tolerance limits, for 100 and for 10,000 patients. Targets: < 2 s for 100 patients,
< 60 s and < 2 GB for 10,000.

Run: .venv/bin/python benchmarks/bench_monitoring.py [--patients 100 10000] [--repeat N]

Input per size, built once and not timed: the synthetic cohort's flat raw export (the
generator of the demo, 5 sites), a query table as the ``data_queries`` instrument holds it
(``--queries-per-patient`` queries, raised over the year before the reference date, a third
answered, a third closed, some re-opened), check findings (two per patient, half errors), and
a project log as REDCap writes it: one entry per saved form instance, its details listing
the values saved (``[instance = N], field = 'value', ...``), entered 0–40 days after the
instance's own date, plus one later edit of a tenth of them. What is timed is what the
dashboard and the sweep call: :func:`log_frame` of the raw log rows, :func:`compute_kris`
(per site, study-wide and 12 monthly series) and :func:`assess`. Medians of ``--repeat``
runs; wall clock and CPU time of this process; peak memory is the process's maximum
resident set (``ru_maxrss``) of a child process that loads the pickled input and computes
(the input is built in another child: the generator's own peak is not what monitoring
costs); "input alone" is that child's peak before the first computation.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REF = date(2026, 11, 30)
TARGETS = {100: (2.0, None), 10_000: (60.0, 2048.0)}  # seconds, MiB


def world(n: int, *, queries_per_patient: int, seed: int = 17) -> dict[str, object]:
    """The raw export, queries, findings and raw log rows of an ``n``-patient study."""
    from sgbm_redcap.dictionary.project import load_project
    from sgbm_redcap.monitoring import study_sites
    from sgbm_redcap.queries.reconcile import EXISTING_COLUMNS
    from sgbm_redcap.source.tables import normalise_raw
    from sgbm_redcap.synthetic.cohort import generate_cohort

    project = load_project(ROOT / "redcap_project")
    cohort = generate_cohort(n=n, seed=20240801, problem_rate=0.1)
    raw = normalise_raw(cohort.to_frame(dictionary=project.dictionary, with_dag=True),
                        "record_id")
    rng = np.random.default_rng(seed)
    records = raw.loc[raw["redcap_repeat_instrument"] == "", "record_id"].astype(str)
    nq = len(records) * queries_per_patient
    opened = pd.Timestamp(REF) - pd.to_timedelta(rng.integers(0, 365, nq), unit="D")
    status = rng.choice(["1", "2", "3", "4"], nq, p=[0.35, 0.3, 0.3, 0.05])
    answered = opened + pd.to_timedelta(rng.integers(1, 40, nq), unit="D")
    closed = answered + pd.to_timedelta(rng.integers(1, 40, nq), unit="D")
    fmt = "%Y-%m-%d"
    queries = pd.DataFrame({c: "" for c in EXISTING_COLUMNS}, index=range(nq))
    queries["record_id"] = np.repeat(records.to_numpy(), queries_per_patient)
    queries["instance"] = np.tile(np.arange(1, queries_per_patient + 1), len(records)).astype(str)
    queries["dq_id"] = [f"Q{i}" for i in range(nq)]
    queries["dq_rule"] = "DATE-1"
    queries["dq_status"] = status
    queries["dq_opened_date"] = opened.strftime(fmt)
    queries["dq_answered_date"] = np.where(np.isin(status, ["2", "3", "4"]),
                                           answered.strftime(fmt), "")
    queries["dq_closed_date"] = np.where(status == "3", closed.strftime(fmt), "")
    findings = pd.DataFrame({
        "record_id": np.repeat(records.to_numpy(), 2),
        "severity": np.tile(["error", "warning"], len(records))})
    return {"raw": raw, "queries": queries, "findings": findings,
            "log": stand_in_log(raw, rng), "sites": study_sites(raw, project.dags),
            "settings": None}


def stand_in_log(raw: pd.DataFrame, rng: np.random.Generator) -> list[dict[str, str]]:
    """One "Update record" entry per form instance, saved 0–40 days after the instance's own
    date (the first date among its values), newest first as REDCap exports it."""
    values = raw.drop(columns=[c for c in raw.columns if c.startswith("redcap_")
                               and c != "redcap_repeat_instance"])
    date_cols = [c for c in values.columns if c.endswith("_date")]
    first_date = pd.to_datetime(values[date_cols].replace("", None).bfill(axis=1).iloc[:, 0],
                                errors="coerce").fillna(pd.Timestamp(REF) - pd.Timedelta(days=200))
    saved = first_date + pd.to_timedelta(rng.integers(0, 41, len(raw)), unit="D")
    fields = [c for c in values.columns if c not in ("record_id", "redcap_repeat_instance")]
    cols = values[fields].to_numpy()
    entries = []
    for i, (rec, inst) in enumerate(zip(raw["record_id"].astype(str),
                                        raw["redcap_repeat_instance"].astype(str), strict=True)):
        parts = [f"[instance = {inst}]"] if inst not in ("", "1") else []
        parts += [f"{f} = '{v}'" for f, v in zip(fields, cols[i], strict=True) if v != ""]
        ts = saved.iloc[i]
        entries.append({"timestamp": ts.strftime("%Y-%m-%d %H:%M"), "username": "site_dm",
                        "action": f"Update record {rec}", "details": ", ".join(parts),
                        "record": rec})
        if i % 10 == 0 and len(parts) > 1:
            entries.append({"timestamp": (ts + timedelta(days=20)).strftime("%Y-%m-%d %H:%M"),
                            "username": "site_dm", "action": f"Update record {rec}",
                            "details": parts[-1], "record": rec})
    entries.sort(key=lambda e: e["timestamp"], reverse=True)
    return entries


def run_kris(w: dict[str, object]) -> object:
    from sgbm_redcap.config import Settings
    from sgbm_redcap.monitoring.kris import compute_kris
    from sgbm_redcap.monitoring.limits import assess, tolerance_limits
    from sgbm_redcap.monitoring.log import log_frame

    log = log_frame(w["log"])  # type: ignore[arg-type]
    result = compute_kris(w["raw"], w["queries"], w["sites"], ref=REF,  # type: ignore[arg-type]
                          log=log, findings=w["findings"])  # type: ignore[arg-type]
    return assess(result, tolerance_limits(Settings().monitoring))


def build(n: int, queries_per_patient: int, path: Path) -> None:
    """Build the input in this process and pickle it to ``path``, and with the raw export
    cut to the KRIs' columns beside it (the generator's own peak memory is not what
    monitoring costs)."""
    from sgbm_redcap.monitoring.kris import kri_columns

    t0 = time.perf_counter()
    w = world(n, queries_per_patient=queries_per_patient)
    w["built_s"] = time.perf_counter() - t0
    with path.open("wb") as f:
        pickle.dump(w, f, protocol=pickle.HIGHEST_PROTOCOL)
    w["raw"] = kri_columns(w["raw"]).copy()  # type: ignore[arg-type]
    with _slim(path).open("wb") as f:
        pickle.dump(w, f, protocol=pickle.HIGHEST_PROTOCOL)


def _slim(path: Path) -> Path:
    return path.with_suffix(".slim.pickle")


def one_size(path: Path, repeat: int, *, slim: bool) -> dict[str, float]:
    with (_slim(path) if slim else path).open("rb") as f:
        w = pickle.load(f)
    built = w.pop("built_s")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t1 = time.process_time(), time.perf_counter()
        run_kris(w)
        walls.append(time.perf_counter() - t1)
        cpus.append(time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    raw = w["raw"]
    return {"patients": int(w["raw"].loc[w["raw"]["redcap_repeat_instrument"] == "", "record_id"].nunique()), "rows": len(raw), "log_entries": len(w["log"]),  # type: ignore[arg-type]
            "queries": len(w["queries"]), "built_s": built,  # type: ignore[arg-type]
            "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
            "rss_before_mib": before, "peak_rss_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--queries-per-patient", type=int, default=3)
    parser.add_argument("--build", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--slim", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build(int(args.build[0]), args.queries_per_patient, Path(args.build[1]))
        return
    if args.child:
        print(json.dumps(one_size(Path(args.child), args.repeat, slim=args.slim)))
        return
    print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    failed = False
    for n in args.patients:
        with tempfile.TemporaryDirectory() as tmp:
            data = str(Path(tmp) / "world.pickle")
            subprocess.run([sys.executable, __file__, "--build", str(n), data,
                            "--queries-per-patient", str(args.queries_per_patient)], check=True)
            for slim, what in ((True, "only the fields the KRIs read (kri_columns)"),
                               (False, "the full export (as monitor and the sweep hold it)")):
                failed |= not _child(n, data, slim, what, args.repeat)
    sys.exit(1 if failed else 0)


def _child(n: int, data: str, slim: bool, what: str, repeat: int) -> bool:
    out = subprocess.run([sys.executable, __file__, "--child", data, "--repeat",
                          str(repeat if n <= 1000 else 1), *(["--slim"] if slim else [])],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        print(out.stderr.strip().splitlines()[-1] if out.stderr else "child failed")
        return False
    r = json.loads(out.stdout.strip().splitlines()[-1])
    secs, mib = TARGETS.get(n, (None, None))
    ok = (secs is None or r["wall_s"] < secs) and (mib is None or r["peak_rss_mib"] < mib)
    verdict = (f" -> {'PASS' if ok else 'FAIL'} (< {secs:g} s"
               + (f", < {mib:g} MiB" if mib else "") + ")") if secs else ""
    print(f"{n:>6} patients, {what}: {r['rows']} rows, {r['log_entries']} log entries, "
          f"{r['queries']} queries (built in {r['built_s']:.1f} s); KRIs median wall "
          f"{r['wall_s']:.2f} s, cpu {r['cpu_s']:.2f} s; peak RSS {r['peak_rss_mib']:.0f} MiB "
          f"(input alone {r['rss_before_mib']:.0f} MiB){verdict}", flush=True)
    return ok


if __name__ == "__main__":
    main()
