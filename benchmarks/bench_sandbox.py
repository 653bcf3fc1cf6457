"""Sandbox speed: record import (records/s) and a full flat-CSV export of 10,000 records.

Targets (issue 4): export of 10,000 records of the study project, all instruments, flat CSV,
in under 5 s; import at 1,000 records/s or better.

Two data densities, both on the study dictionary (``redcap_project/``):

* ``cohort`` (the headline): the synthetic cohort's own density (~28.6 flat rows, ~580
  values per patient: SG administrations, assessments, AEs...), made by repeating a
  100-patient cohort under new record names. ``--rows`` says how the rows are sent:
  ``forms`` (default, the headline): each row with the columns of the forms it shows, some
  blank (a base row all 173 non-repeating columns, a repeating row its own form's; ~26
  cells per row), as the cohort generator and a client posting per-form dicts build them;
  ``sparse``: only the non-blank values; ``export``: every one of the project's columns on
  every row, blank where the row has nothing, as a flat export sent straight back does
  (~10x the cells of ``forms``);
* ``one-instance``: every record has the non-repeating forms filled and one instance of each
  repeating instrument (10 rows per record).

Figures are medians over ``--repeat`` fresh sandboxes, wall clock and the process's CPU time
(on a shared machine wall clock suffers from other load; CPU time much less so).

Requests go through ``Sandbox.handle`` in-process (the same code the HTTP server runs, minus
the socket), one import request per 500 records. Run:

    .venv/bin/python benchmarks/bench_sandbox.py [--records 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sgbm_redcap.dictionary.project import load_project  # noqa: E402
from sgbm_redcap.sandbox import Sandbox  # noqa: E402
from sgbm_redcap.sandbox.meta import ProjectMeta  # noqa: E402

BATCH = 500


def one_instance_rows(sb: Sandbox, pid: int, n: int) -> list[list[dict[str, str]]]:
    """Per record: a base row with every non-repeating field and one row per repeating form."""
    meta: ProjectMeta = sb.store.meta(pid)

    def value(name: str) -> str | None:
        f = meta.fields[name]
        if f.ftype in ("calc", "file", "descriptive") or "@CALC" in f.annotation.upper():
            return None
        if f.choices:
            return next(iter(f.choices))
        if f.validation.startswith("date"):
            return "2024-09-0" + str(1 + len(name) % 9)
        if f.validation in ("integer", "number"):
            lo = float(f.vmin) if f.vmin else 1
            return str(int(lo) + 1)
        if f.validation == "email":
            return "a@example.org"
        return "x" if f.ftype in ("text", "notes") else None

    forms = {form: {} for form in meta.forms}
    for form in meta.forms:
        for name in meta.form_fields[form]:
            f = meta.fields[name]
            if name == meta.record_id:
                continue
            if f.ftype == "checkbox":
                forms[form][next(c for c, spec in meta.columns.items()
                                 if spec[0] == "checkbox" and spec[1] == name)] = "1"
            else:
                v = value(name)
                if v is not None:
                    forms[form][name] = v
    repeating = [r["form_name"] for r in meta.repeating]
    out = []
    for i in range(1, n + 1):
        rec = str(i)
        base = {"record_id": rec, "redcap_repeat_instrument": "", "redcap_repeat_instance": ""}
        for form in meta.forms:
            if form not in repeating:
                base.update(forms[form])
        rows = [base]
        for form in repeating:
            rows.append({"record_id": rec, "redcap_repeat_instrument": form,
                         "redcap_repeat_instance": "1", **forms[form]})
        out.append(rows)
    return out


def cohort_rows(n: int, *, rows: str = "forms",
                columns: list[str] | None = None) -> list[list[dict[str, str]]]:
    """``n`` records at the cohort's density, shaped as ``rows`` says (see the module
    docstring); ``export`` needs the project's flat-export ``columns``."""
    from sgbm_redcap.synthetic.cohort import generate_cohort

    cohort = generate_cohort(n=100, seed=20240801, problem_rate=0.0)
    by_record: dict[str, list[dict[str, str]]] = {}
    keys = ("record_id", "redcap_repeat_instrument", "redcap_repeat_instance")
    blank_row = dict.fromkeys(columns or (), "")
    for row in cohort.clean_records:
        values = {k: ("" if v is None else str(v)) for k, v in row.items()
                  if rows != "sparse" or k in keys or v not in (None, "")}
        if rows == "export":
            values = {**blank_row, **values}
        by_record.setdefault(str(row["record_id"]), []).append(values)
    template = list(by_record.values())
    out = []
    for i in range(n):
        rows_of = template[i % len(template)]
        out.append([dict(r, record_id=str(i + 1)) for r in rows_of])
    return out


def encode_rows(rows: list[dict[str, str]], data_format: str) -> str:
    """An import's ``data``: a JSON array, or CSV whose header is every column any row has
    (CSV is rectangular: a row without a column sends it blank), as PyCap sends a DataFrame."""
    if data_format == "json":
        return json.dumps(rows)
    import csv
    import io

    header = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def request(sb: Sandbox, **params: str) -> tuple[int, bytes]:
    status, _, body = sb.handle(urlencode(params).encode())
    return status, body


def run(density: str, n: int, repeat: int, rows: str = "forms",
        data_format: str = "json") -> dict[str, float]:
    project = load_project(ROOT / "redcap_project")
    imports, exports, import_cpu, export_cpu = [], [], [], []
    n_rows = n_values = 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            sb = Sandbox(tmp)
            token = sb.create_project(ROOT / "redcap_project" / "data_dictionary.csv",
                                      repeating_forms=project.repeating_forms,
                                      dags=list(project.dags))
            pid = sb.store.token_owner(token)[0]
            columns = None
            if rows == "export":
                status, header = request(sb, token=token, content="exportFieldNames",
                                         format="json")
                meta = sb.store.meta(pid)
                columns = ([meta.record_id, "redcap_repeat_instrument", "redcap_repeat_instance"]
                           + [f["export_field_name"] for f in json.loads(header)
                              if f["export_field_name"] != meta.record_id])
            records = (cohort_rows(n, rows=rows, columns=columns) if density == "cohort"
                       else one_instance_rows(sb, pid, n))
            n_rows = sum(len(r) for r in records)
            n_values = sum(1 for rs in records for r in rs for k, v in r.items()
                           if v != "" and not k.startswith("redcap_"))
            # bodies are encoded before the clock starts: the client's work is not the server's
            bodies = [urlencode({
                "token": token, "content": "record", "format": data_format, "type": "flat",
                "returnFormat": "json",
                "data": encode_rows([row for rows in records[start:start + BATCH]
                                     for row in rows], data_format),
            }).encode() for start in range(0, n, BATCH)]
            t0, c0 = time.perf_counter(), time.process_time()
            for body in bodies:
                status, _, answer = sb.handle(body)
                if status != 200:
                    raise SystemExit(f"import failed: {answer[:500]!r}")
            imports.append(time.perf_counter() - t0)
            import_cpu.append(time.process_time() - c0)
            t0, c0 = time.perf_counter(), time.process_time()
            status, body = request(sb, token=token, content="record", format="csv", type="flat")
            exports.append(time.perf_counter() - t0)
            export_cpu.append(time.process_time() - c0)
            if status != 200:
                raise SystemExit(f"export failed: {body[:300]!r}")
            exported_rows = body.count(b"\n") - 1
    return {"records": n, "rows": n_rows, "values": n_values, "exported_rows": exported_rows,
            "import_s": statistics.median(imports), "export_s": statistics.median(exports),
            "import_cpu": statistics.median(import_cpu), "export_cpu": statistics.median(export_cpu),
            "import_requests": -(-n // BATCH)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--density", choices=["one-instance", "cohort", "both"], default="both")
    parser.add_argument("--format", dest="data_format", choices=["json", "csv"], default="json",
                        help="import data format (csv: every column on every row, as PyCap "
                             "sends a DataFrame)")
    parser.add_argument("--rows", choices=["forms", "sparse", "export"], default="forms",
                        help="how cohort rows are sent: the columns of their forms (default), "
                             "only non-blank values, or every column (a flat export sent back)")
    args = parser.parse_args()
    densities = ["cohort", "one-instance"] if args.density == "both" else [args.density]
    import os

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(wall-clock figures suffer when the machine is shared; CPU time does not)")
    for density in densities:
        r = run(density, args.records, args.repeat, rows=args.rows,
                data_format=args.data_format)
        rate, cpu_rate = r["records"] / r["import_s"], r["records"] / r["import_cpu"]
        headline = ""
        if density == "cohort":
            headline = {"forms": " (HEADLINE: the study cohort's density, rows with their "
                                 "forms' columns)",
                        "sparse": " (rows with only their non-blank values)",
                        "export": " (every column on every row: a flat export sent back)",
                        }[args.rows]
        print(f"[{density}, {args.data_format}]{headline} {r['records']} records, {r['rows']} rows, "
              f"{r['values']} values, median of {args.repeat}")
        print(f"  import: {r['import_s']:.2f} s wall ({r['import_cpu']:.2f} s CPU) over "
              f"{r['import_requests']} requests -> {rate:,.0f} records/s wall, "
              f"{cpu_rate:,.0f} records/s CPU (target >= 1,000; ratio {rate / 1000:.2f}x wall, "
              f"{cpu_rate / 1000:.2f}x CPU)")
        print(f"  export: {r['export_s']:.2f} s wall ({r['export_cpu']:.2f} s CPU), 1 request, "
              f"{r['exported_rows']} CSV rows (target < 5 s; ratio {5 / r['export_s']:.2f}x wall, "
              f"{5 / r['export_cpu']:.2f}x CPU)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
