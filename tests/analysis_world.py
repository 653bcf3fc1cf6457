"""Small hand-built study worlds for the analysis tests (field names and codes of
CONTRACTS §3; values as REDCap raw strings, the way a flat export carries them)."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from sgbm_redcap.analysis.inputs import REPEATING_FORMS


class World:
    def __init__(self):
        self.rows: dict[str, list[dict]] = defaultdict(list)

    def add(self, form: str, record_id: str, **fields) -> World:
        row = {"record_id": record_id, "redcap_data_access_group": fields.pop("dag", "site_a")}
        if form in REPEATING_FORMS:
            row["redcap_repeat_instance"] = 1 + sum(
                r["record_id"] == record_id for r in self.rows[form])
        row.update({k: ("" if v is None else str(v)) for k, v in fields.items()})
        self.rows[form].append(row)
        return self

    def patient(self, rid: str, *, sg_start: str = "2024-01-10", eligible: str = "1",
                baseline_scan: str | None = "2023-12-28", targets=(20, 15), dag="site_a",
                doses: int = 2) -> World:
        """An eligible patient with BM, a baseline scan, measurable targets and SG doses."""
        self.add("enrolment", rid, eligible=eligible, dag=dag)
        self.add("sg_treatment", rid, sg_start_date=sg_start, dag=dag)
        self.add("brain_mets_baseline", rid, bm_diag_date="2023-11-01", dag=dag,
                 bm_baseline_scan_date=baseline_scan or "")
        if baseline_scan:
            tl = {f"ia_tl{i + 1}_ld": v for i, v in enumerate(targets)}
            self.add("intracranial_assessment", rid, ia_date=baseline_scan, ia_type="1",
                     ia_nontarget="0", dag=dag, **tl)
        start = pd.Timestamp(sg_start)
        for k in range(doses):
            day = start + pd.Timedelta(days=21 * (k // 2) + 7 * (k % 2))
            self.add("sg_administration", rid, adm_date=day.strftime("%Y-%m-%d"),
                     adm_cycle=1 + k // 2, adm_day="1" if k % 2 == 0 else "8",
                     adm_dose_level="1", adm_dose_mg=600, adm_status="1", dag=dag)
        return self

    def scan(self, rid: str, date: str, *lesions, inv: str = "", nontarget="0", new="0",
             **extra) -> World:
        tl = {f"ia_tl{i + 1}_ld": v for i, v in enumerate(lesions)}
        return self.add("intracranial_assessment", rid, ia_date=date, ia_type="2",
                        ia_nontarget=nontarget, ia_new_lesion=new, ia_rano_inv=inv,
                        **tl, **extra)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {form: pd.DataFrame(rows) for form, rows in self.rows.items()}

    def flat(self) -> pd.DataFrame:
        """The same world as one flat export (non-repeating forms merged per record)."""
        single = None
        repeating = []
        for form, rows in self.rows.items():
            frame = pd.DataFrame(rows)
            if form in REPEATING_FORMS:
                repeating.append(frame.assign(redcap_repeat_instrument=form))
            else:
                frame = frame.drop(columns="redcap_data_access_group")
                single = frame if single is None else single.merge(frame, on="record_id",
                                                                   how="outer")
        single = single.assign(redcap_repeat_instrument="", redcap_repeat_instance="")
        return pd.concat([single, *repeating], ignore_index=True).fillna("")
