"""Proportions with two-sided Clopper–Pearson (exact) confidence intervals (DOMAIN §5.2)."""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import beta

from sgbm_redcap.errors import AnalysisInputError


@dataclass(frozen=True)
class Proportion:
    """``x`` responders out of ``n``; ``lower``/``upper`` are the exact CI limits."""

    x: int
    n: int
    estimate: float
    lower: float
    upper: float
    confidence: float = 0.95
    method: str = "Clopper-Pearson"

    def text(self, digits: int = 1) -> str:
        """``"7/25 (28.0%; 95% CI 12.1–49.4)"``; ``"0/0"`` when the set is empty."""
        if self.n == 0:
            return "0/0"
        pct = 100 * self.estimate
        return (f"{self.x}/{self.n} ({pct:.{digits}f}%; {100 * self.confidence:.0f}% CI "
                f"{100 * self.lower:.{digits}f}–{100 * self.upper:.{digits}f})")


def clopper_pearson(x: int, n: int, confidence: float = 0.95) -> Proportion:
    """Exact CI: lower = Beta⁻¹(α/2; x, n−x+1), upper = Beta⁻¹(1−α/2; x+1, n−x).

    The limits are 0 when x = 0 and 1 when x = n. An empty set (n = 0) gives NaN throughout
    rather than an error, because an interim report can legitimately have an empty subgroup.
    """
    if not (0 <= x <= n) or int(x) != x or int(n) != n:
        raise AnalysisInputError(f"need integers 0 <= x <= n, got x={x}, n={n}")
    if not 0 < confidence < 1:
        raise AnalysisInputError(f"confidence must be in (0, 1), got {confidence}")
    x, n = int(x), int(n)
    if n == 0:
        nan = float("nan")
        return Proportion(0, 0, nan, nan, nan, confidence)
    alpha = 1 - confidence
    lower = 0.0 if x == 0 else float(beta.ppf(alpha / 2, x, n - x + 1))
    upper = 1.0 if x == n else float(beta.ppf(1 - alpha / 2, x + 1, n - x))
    return Proportion(x, n, x / n, lower, upper, confidence)
