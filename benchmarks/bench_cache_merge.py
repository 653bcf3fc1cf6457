"""Pull cache: merging sweeps' deltas into the cached base (``source.cache.apply_deltas``).

Builds the flat export of a synthetic cohort (10,000 records by default, ~287,000 rows), takes
``--sweeps`` deltas of ``--changed`` records each (their rows, re-sent), and times the
one-pass merge against the filter-and-append-per-delta merge it replaced, alternating, in one
process. Prints medians and their ratio, and checks both give the same rows.

    .venv/bin/python benchmarks/bench_cache_merge.py [--records 10000] [--sweeps 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sgbm_redcap.source.cache import apply_deltas  # noqa: E402
from sgbm_redcap.synthetic.cohort import generate_cohort  # noqa: E402


def one_by_one(base: pd.DataFrame, deltas: list[tuple[pd.DataFrame, list[str]]]) -> pd.DataFrame:
    """The merge before: each delta filters the whole table, then is appended to it."""
    raw = base
    for rows, records in deltas:
        raw = pd.concat([raw[~raw["record_id"].isin(records)], rows], ignore_index=True)
    return raw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--sweeps", type=int, default=5)
    ap.add_argument("--changed", type=int, default=100, help="records per sweep")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    base = pd.DataFrame(generate_cohort(n=args.records, problem_rate=0.0).clean_records)
    base = base.astype(str)
    ids = base["record_id"].unique().tolist()
    rng = random.Random(1)
    deltas = []
    for _ in range(args.sweeps):
        changed = rng.sample(ids, args.changed)
        deltas.append((base[base["record_id"].isin(changed)].copy(), changed))
    timings: dict[str, list[float]] = {"one by one": [], "one pass": []}
    results = {}
    for _ in range(args.repeat):
        for name, merge in (("one by one", lambda: one_by_one(base, deltas)),
                            ("one pass", lambda: apply_deltas(base, deltas, "record_id"))):
            t0 = time.perf_counter()
            results[name] = merge()
            timings[name].append(time.perf_counter() - t0)
    pd.testing.assert_frame_equal(results["one pass"], results["one by one"])
    before, after = (statistics.median(timings[k]) for k in ("one by one", "one pass"))
    print(f"{len(base):,} rows x {base.shape[1]} columns, {args.sweeps} deltas of "
          f"{args.changed} records, median of {args.repeat} (alternating)")
    print(f"  one by one: {before:.2f} s   one pass: {after:.2f} s   ratio {after / before:.2f}")


if __name__ == "__main__":
    main()
