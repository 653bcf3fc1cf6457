"""One indicator value of one site: the number, what it is made of, the records behind it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Value:
    """``value`` (NaN: not estimable, e.g. no denominator) with its numerator and
    denominator in words (``detail``), the ``records`` to look at first and, for the
    funnel-tested rates, the two-sided ``p`` of the Poisson test against the pooled rate."""

    value: float
    detail: str
    records: list[str] = field(default_factory=list)
    numerator: float = math.nan
    denominator: float = math.nan
    p: float = math.nan
    expected: float = math.nan

    @classmethod
    def ratio(cls, num: float, den: float, num_words: str, den_words: str,
              records: list[str] | None = None) -> Value:
        value = num / den if den else math.nan
        return cls(value, f"{_n(num)} {num_words} / {_n(den)} {den_words}", records or [],
                   float(num), float(den))

    @classmethod
    def median(cls, values: pd.Series, words: str,
               records: list[str] | None = None) -> Value:
        v = pd.to_numeric(values, errors="coerce").dropna()
        med = float(v.median()) if len(v) else math.nan
        return cls(med, f"median of {len(v)} {words}", records or [], med, float(len(v)))

    @property
    def estimable(self) -> bool:
        return not math.isnan(self.value)


def _n(x: float) -> str:
    return f"{x:.1f}" if isinstance(x, float) and not float(x).is_integer() else str(int(x))
