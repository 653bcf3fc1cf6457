"""How long the monthly analysis takes on synthetic cohorts of growing size.

Run: .venv/bin/python benchmarks/bench_analysis.py [--repeat N]
Prints the median wall (and CPU) time of analyse_study per cohort size and the time ratio against the
smallest size (≈ the size ratio means linear scaling).
"""

from __future__ import annotations

import argparse
import statistics
import time

from sgbm_redcap.analysis import analyse_study
from sgbm_redcap.synthetic.cohort import generate_cohort


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 400])
    args = parser.parse_args()
    base = None
    for n in args.sizes:
        cohort = generate_cohort(n=n, seed=20240801, problem_rate=0.0)
        flat = cohort.to_frame(clean=True)
        times, cpu = [], []
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            analyse_study(flat, cutoff=cohort.extract_date)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        median = statistics.median(times)
        base = base or median
        print(f"n={n:5d} records: analyse_study median {median:6.2f} s "
              f"(CPU {statistics.median(cpu):6.2f} s; {1000 * median / n:5.1f} ms/record), ratio vs n={args.sizes[0]}: "
              f"{median / base:4.2f}")


if __name__ == "__main__":
    main()
