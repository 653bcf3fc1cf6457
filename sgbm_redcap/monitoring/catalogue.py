"""The key risk indicators: what each measures, where it comes from, and its default
tolerance limits (justified in docs/monitoring.md; a study sets its own in the settings
TOML, ``[monitoring.<id>]``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kri:
    """``kind`` "high" (a value above the limits is bad), "low", or "funnel" (the two-sided
    Poisson test against the pooled rate: ``amber``/``red`` are p-value limits). ``min_n``:
    below this denominator the value is shown but not judged. ``needs``: "log" (the project
    log), "checks" (the check findings) or "" (the tables and queries)."""

    id: str
    title: str
    unit: str
    kind: str
    amber: float
    red: float
    min_n: int = 0
    needs: str = ""
    percent: bool = False
    digits: int = 1

    def text(self, value: float) -> str:
        if value != value:  # NaN
            return "–"
        if self.percent:
            return f"{100 * value:.{self.digits}f}%"
        return f"{value:.{self.digits}f}"


KRIS: tuple[Kri, ...] = (
    Kri("open_queries", "Open queries per patient", "per patient", "high", 1.0, 2.0),
    Kri("old_queries", "Open queries > 30 days", "of open queries", "high", 0.25, 0.5, 5,
        percent=True, digits=0),
    Kri("days_to_answer", "Median days to answer", "days", "high", 14, 28, 3, digits=0),
    Kri("days_to_close", "Median days to close", "days", "high", 30, 60, 3, digits=0),
    Kri("reopened", "Re-opened queries", "of raised", "high", 0.25, 0.4, 10, percent=True,
        digits=0),
    Kri("entry_lag", "Data-entry lag (median)", "days", "high", 14, 30, 5, needs="log",
        digits=0),
    Kri("missing_scans", "Overdue brain-scan intervals", "of intervals", "high", 0.1, 0.2,
        10, percent=True, digits=0),
    Kri("ae_rate", "AEs per patient-month on SG", "AEs / patient-month", "funnel", 0.05,
        0.002, digits=2),
    Kri("sae_rate", "SAEs per patient-month on SG", "SAEs / patient-month", "funnel", 0.05,
        0.002, digits=3),
    Kri("screen_failures", "Screen failures", "of screened", "high", 0.2, 0.35, 5,
        percent=True, digits=0),
    Kri("deviations", "Protocol deviations per patient", "error findings per patient",
        "high", 0.5, 1.0, needs="checks", digits=2),
)
BY_ID = {k.id: k for k in KRIS}
