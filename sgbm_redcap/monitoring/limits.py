"""Tolerance limits: each indicator of each site judged green / amber / red (always with a
text label, never colour alone), and the sites over a limit listed with the numbers behind
them and the records to look at.

Defaults are in :data:`~sgbm_redcap.monitoring.catalogue.KRIS` (justified in
docs/monitoring.md); the settings TOML overrides them per indicator::

    [sgbm_redcap.monitoring.days_to_answer]
    amber = 10
    red = 21
    min_n = 3
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sgbm_redcap.errors import ConfigError
from sgbm_redcap.monitoring.catalogue import BY_ID, KRIS, Kri
from sgbm_redcap.monitoring.indicator import Value
from sgbm_redcap.monitoring.kris import ALL, KriResult

GREEN, AMBER, RED = "green", "amber", "red"
INACTIVE, NOT_ESTIMABLE, TOO_FEW, NOT_COMPUTED = ("not yet active", "not estimable",
                                                  "too few data", "not computed")
LABELS = {GREEN: "within limits", AMBER: "amber: near the limit", RED: "red: over the limit",
          INACTIVE: "not yet active", NOT_ESTIMABLE: "not estimable", TOO_FEW: "too few data",
          NOT_COMPUTED: "not computed"}
_KEYS = {"amber", "red", "min_n"}


def tolerance_limits(settings: Mapping[str, Any] | None = None) -> dict[str, Kri]:
    """The indicators with the limits of ``settings`` (the ``monitoring`` table of the
    settings TOML) over the defaults; a ConfigError names an unknown indicator or key or a
    limit in the wrong order."""
    out = dict(BY_ID)
    for kri_id, table in (settings or {}).items():
        where = f"monitoring.{kri_id}"
        if kri_id not in out:
            raise ConfigError(f"Unknown indicator {kri_id!r} in the monitoring settings; "
                              f"known: {', '.join(BY_ID)}", setting=where)
        if not isinstance(table, Mapping) or not set(table) <= _KEYS:
            raise ConfigError(f"{where} takes only {', '.join(sorted(_KEYS))}",
                              setting=where)
        try:
            kri = replace(out[kri_id], **{k: (int(v) if k == "min_n" else float(v))
                                         for k, v in table.items()})
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: the limits must be numbers", setting=where) from None
        wrong = (kri.amber < kri.red) if kri.kind == "funnel" else (
            kri.amber > kri.red if kri.kind == "high" else kri.amber < kri.red)
        if wrong:
            raise ConfigError(f"{where}: amber ({kri.amber:g}) must come before red "
                              f"({kri.red:g})", setting=where)
        out[kri_id] = kri
    return out


def judge(kri: Kri, value: Value | None, *, active: bool = True) -> str:
    """The status of one value against its limits."""
    if not active:
        return INACTIVE
    if value is None:
        return NOT_COMPUTED
    if not value.estimable:
        return NOT_ESTIMABLE
    if kri.min_n and not (value.denominator >= kri.min_n):
        return TOO_FEW
    if kri.kind == "funnel":
        if math.isnan(value.p):
            return NOT_ESTIMABLE
        return RED if value.p < kri.red else AMBER if value.p < kri.amber else GREEN
    x = value.value
    if kri.kind == "low":
        return RED if x < kri.red else AMBER if x < kri.amber else GREEN
    return RED if x > kri.red else AMBER if x > kri.amber else GREEN


@dataclass(frozen=True)
class Flag:
    """A site over (red) or near (amber) a limit: the numbers and the records to look at."""

    site: str
    label: str
    kri: str
    title: str
    status: str
    value: str
    limit: str
    detail: str
    records: list[str]


@dataclass(frozen=True)
class Assessment:
    """``status[kri][site]`` for every site (and :data:`ALL`), and the flags (red first)."""

    status: dict[str, dict[str, str]]
    flags: list[Flag]
    limits: dict[str, Kri]

    def site_status(self, site: str) -> str:
        """The worst status of a site over its indicators."""
        seen = {self.status[k][site] for k in self.status}
        for s in (RED, AMBER, GREEN):
            if s in seen:
                return s
        return INACTIVE if INACTIVE in seen else NOT_ESTIMABLE

    def red(self) -> set[tuple[str, str]]:
        return {(f.site, f.kri) for f in self.flags if f.status == RED}


def limit_text(kri: Kri) -> str:
    if kri.kind == "funnel":
        return (f"Poisson test against the pooled rate: amber p < {kri.amber:g}, "
                f"red p < {kri.red:g}")
    sign = ">" if kri.kind == "high" else "<"
    return f"amber {sign} {kri.text(kri.amber)}, red {sign} {kri.text(kri.red)}"


def assess(result: KriResult, limits: Mapping[str, Kri] | None = None) -> Assessment:
    """Judge every indicator of every site against ``limits`` (default: the defaults)."""
    limits = dict(limits or BY_ID)
    status: dict[str, dict[str, str]] = {}
    flags: list[Flag] = []
    sites = result.sites
    for kri in KRIS:
        lim = limits[kri.id]
        status[kri.id] = {}
        computed = kri.id not in result.not_computed
        for site in [*sites.order, ALL]:
            active = site == ALL or sites.active(site)
            value = result.value(kri.id, site) if computed else None
            s = judge(lim, value, active=active) if site != ALL or kri.kind != "funnel" \
                else (GREEN if value is not None and value.estimable else NOT_ESTIMABLE)
            if site == ALL and kri.kind == "funnel":
                s = NOT_COMPUTED if value is None else s
            status[kri.id][site] = s
            if s in (RED, AMBER) and value is not None:
                side = ""
                if kri.kind == "funnel":
                    side = " (low: fewer than expected)" if value.numerator < value.expected \
                        else " (high: more than expected)"
                flags.append(Flag(site, "All sites" if site == ALL else sites.label(site),
                                  kri.id, kri.title, s, lim.text(value.value) + side,
                                  limit_text(lim), value.detail + (
                                      f"; p = {value.p:.3g}" if kri.kind == "funnel" else ""),
                                  value.records))
    flags.sort(key=lambda f: (f.status != RED, f.site == ALL, f.label, f.kri))
    return Assessment(status, flags, limits)
