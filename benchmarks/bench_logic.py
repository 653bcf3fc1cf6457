"""Benchmark: every branching expression of the largest corpus dictionary over 10,000
synthetic records, vectorised vs the row-by-row reference.

Run: ``.venv/bin/python benchmarks/bench_logic.py [--records 10000] [--runs 5]
[--rowwise-records 500]``

The vectorised figure is the median of ``--runs`` runs, each evaluating every expression over
all records with one shared :class:`~sgbm_redcap.logic.Evaluator` (how the linter and the checks
use it); a second figure builds a fresh evaluator per expression (plain ``evaluate()``). The
row-by-row reference is far too slow to run on all records several times, so it runs once on
the first ``--rowwise-records`` records and its time is scaled linearly to the full count
(it is linear in rows: one Python evaluation per row). Both evaluators' results on that sample
are compared, so the benchmark also checks agreement.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sgbm_redcap.dictionary import load_dictionary
from sgbm_redcap.dictionary.model import checkbox_column
from sgbm_redcap.logic import Evaluator, LogicSyntaxError, evaluate, evaluate_rowwise, parse

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "dictionaries"


def largest_dictionary() -> Path:
    """The corpus dictionary with the most branching expressions."""
    best, best_n = None, -1
    for path in sorted(CORPUS.glob("*.csv")):
        try:
            d = load_dictionary(path)
        except Exception:  # noqa: BLE001 - a benchmark skips unreadable files
            continue
        n = sum(1 for f in d.fields if f.branching_logic.strip())
        if n > best_n:
            best, best_n = path, n
    if best is None:
        sys.exit(f"no dictionary found under {CORPUS}")
    return best


def synthetic_records(dictionary, n: int, seed: int = 20240801) -> pd.DataFrame:
    """Flat raw-string records: codes for choice fields, 0/1 per checkbox option, numbers
    and dates for text fields; about 20 % blanks."""
    rng = random.Random(seed)
    columns: dict[str, list[str]] = {}
    for f in dictionary.fields:
        if f.field_type == "descriptive":
            continue
        if f.field_type == "checkbox":
            for code in f.choices:
                col = checkbox_column(f.name, code)
                columns[col] = [rng.choice("01") for _ in range(n)]
            continue
        if f.choices:
            pool = list(f.choices) + [""]
        elif (f.validation or "").startswith("date"):
            pool = [f"20{rng.randint(10, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
                    for _ in range(30)] + [""]
        else:
            pool = [str(rng.randint(0, 120)) for _ in range(40)] + ["", "abc"]
        columns[f.name] = [rng.choice(pool) if rng.random() > 0.2 else "" for _ in range(n)]
    table = pd.DataFrame(columns)
    table[dictionary.record_id] = [str(i + 1) for i in range(n)]
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rowwise-records", type=int, default=500)
    args = ap.parse_args()

    path = largest_dictionary()
    d = load_dictionary(path)
    exprs = []
    invalid = 0
    for f in d.fields:
        if f.branching_logic.strip():
            try:
                exprs.append(parse(f.branching_logic))
            except LogicSyntaxError:
                invalid += 1
    table = synthetic_records(d, args.records)
    print(f"dictionary: {path.name}")
    print(f"branching expressions: {len(exprs)} (+{invalid} that do not parse)")
    print(f"records: {len(table)}, columns: {len(table.columns)}")

    # Wall time and CPU time of this process: on a machine shared with other jobs the wall
    # clock includes waiting for a core, the CPU time does not.
    shared, shared_cpu = [], []
    for _ in range(args.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        ev = Evaluator(table)
        for e in exprs:
            ev.evaluate(e, as_="bool")
        shared.append(time.perf_counter() - t0)
        shared_cpu.append(time.process_time() - c0)
    fresh, fresh_cpu = [], []
    for _ in range(max(1, args.runs // 2)):
        t0, c0 = time.perf_counter(), time.process_time()
        for e in exprs:
            evaluate(e, table, as_="bool")
        fresh.append(time.perf_counter() - t0)
        fresh_cpu.append(time.process_time() - c0)

    sample = table.iloc[: args.rowwise_records]
    t0, c0 = time.perf_counter(), time.process_time()
    reference = [evaluate_rowwise(e, sample, as_="bool") for e in exprs]
    rowwise_sample = time.perf_counter() - t0
    rowwise_full = rowwise_sample * len(table) / len(sample)
    rowwise_full_cpu = (time.process_time() - c0) * len(table) / len(sample)

    ev = Evaluator(sample)
    mismatches = sum(
        int(not np.array_equal(ev.evaluate(e, as_="bool").to_numpy(), r.to_numpy()))
        for e, r in zip(exprs, reference, strict=True)
    )

    med, med_cpu = statistics.median(shared), statistics.median(shared_cpu)
    fmed, fmed_cpu = statistics.median(fresh), statistics.median(fresh_cpu)
    print(f"vectorised, shared Evaluator: median wall {med:.3f} s, CPU {med_cpu:.3f} s "
          f"over {args.runs} runs (wall: {', '.join(f'{t:.3f}' for t in shared)})")
    print(f"vectorised, evaluate() per expression: median wall {fmed:.3f} s, CPU {fmed_cpu:.3f} s")
    print(f"row-by-row reference: wall {rowwise_sample:.2f} s on {len(sample)} records "
          f"-> {rowwise_full:.1f} s wall, {rowwise_full_cpu:.1f} s CPU scaled to {len(table)}")
    print(f"ratio row-by-row / vectorised (shared): wall {rowwise_full / med:.0f}x, "
          f"CPU {rowwise_full_cpu / med_cpu:.0f}x")
    print(f"ratio row-by-row / vectorised (per call): wall {rowwise_full / fmed:.0f}x, "
          f"CPU {rowwise_full_cpu / fmed_cpu:.0f}x")
    print(f"disagreements on the sample: {mismatches} of {len(exprs)} expressions")


if __name__ == "__main__":
    main()
