"""Historical benchmarks of the monthly report: published results of sacituzumab govitecan
(SG) in breast cancer brain metastases, each with its literature reference.

Only publications whose authors, journal and year could be confirmed are tabulated. Results
known only from a conference abstract whose authors could not be confirmed are not
tabulated: :data:`ABSTRACTS` names them, with the identifier that finds them, as context.
The numbers are those the publications report; none is recomputed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sgbm_redcap.reports.contexts import Paragraph, Section, Table


@dataclass(frozen=True)
class Benchmark:
    study: str
    design: str
    n: str
    intracranial_response: str
    pfs: str
    os: str
    reference: str


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("ASCENT, brain-metastasis subgroup", "Phase 3 RCT, metastatic TNBC after ≥ 2 "
              "chemotherapies, stable treated brain metastases", "61 (SG 32, chemotherapy 29)",
              "Not reported (RANO-BM not used)",
              "Whole-body PFS 2.8 vs 1.6 (HR 0.65, 95% CI 0.35–1.22)",
              "6.8 vs 7.5 (HR 0.87, 95% CI 0.47–1.63)",
              "Diéras V, et al. Subgroup analysis of patients with brain metastases from the "
              "phase 3 ASCENT study of sacituzumab govitecan versus chemotherapy in metastatic "
              "triple-negative breast cancer. Cancer Res 2021;81(4 Suppl):PD13-07 (San Antonio "
              "Breast Cancer Symposium 2020). Parent trial: Bardia A, et al. Sacituzumab "
              "govitecan in metastatic triple-negative breast cancer. N Engl J Med "
              "2021;384:1529–1541."),
    Benchmark("Phase 0 window-of-opportunity trial, breast cancer cohort", "SG before "
              "resection of a brain metastasis, then SG; operable patients", "13",
              "Small evaluable number", "Median PFS 8 (range 2–26.5)",
              "Median 35.2 (range 2.7–37)",
              "Balinda HU, et al. Sacituzumab govitecan in patients with breast cancer brain "
              "metastases and recurrent glioblastoma: a phase 0 window-of-opportunity trial. "
              "Nat Commun 2024;15:6707."),
)


#: results known from abstracts whose authors and full citation could not be confirmed: shown
#: as context below the table, never as a benchmark row
ABSTRACTS: tuple[str, ...] = (
    "A single-centre US real-world series of 30 patients with CNS metastases on SG (2019–2025; "
    "90% with prior CNS radiotherapy) saw all CNS responses, all partial, in patients "
    "irradiated less than one month before SG (ASCO Annual Meeting abstract e13095): the "
    "reason for this report's sensitivity analysis without recent brain radiotherapy.",
    "A systematic review and meta-analysis of 11 studies (313 patients with HER2-negative "
    "breast cancer brain metastases) pooled an intracranial ORR of 31.7% (95% CI 15.5–54.0) and "
    "a median intracranial PFS of 2.9 months (1.7–4.9) (ASCO Annual Meeting abstract e14009; "
    "PROSPERO CRD420251161992).",
    "A retrospective series of 14 patients given stereotactic radiosurgery within 6 months of "
    "SG reported a median intracranial PFS of 4.2 months (1.9–6.3) and 12-month local control "
    "of 91% (PubMed Central PMC11296809).",
)


def benchmarks_table() -> Table:
    rows = [[f"{b.study} [{i}]", b.design, b.n, b.intracranial_response, b.pfs, b.os]
            for i, b in enumerate(BENCHMARKS, start=1)]
    return Table("benchmarks-table", "Table 40. Published results of SG in breast cancer "
                 "brain metastases",
                 ["Study", "Population", "N", "Intracranial response",
                  "PFS, months (95% CI)", "OS, months (95% CI)"], rows, text_columns=6,
                 wide=True, footnote="Months as published; the references follow the table.")


def benchmarks_section() -> Section:
    return Section("benchmarks", "Historical benchmarks", [
        benchmarks_table(),
        *[Paragraph(f"[{i}] {b.reference}", "note") for i, b in enumerate(BENCHMARKS, start=1)],
        Paragraph("Not tabulated, because their authors and full citations could not be "
                  "confirmed from the published abstracts:", "note"),
        *[Paragraph(text, "note") for text in ABSTRACTS],
        Paragraph("Populations, response criteria, imaging schedules and prior CNS "
                  "radiotherapy differ from this study, and published confidence intervals "
                  "are not always exact. The comparison is descriptive context for a "
                  "retrospective real-world cohort with investigator-assessed, irregularly "
                  "scheduled imaging, not a formal test.", "note")], page_break=False)
