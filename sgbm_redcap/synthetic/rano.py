"""The response arithmetic the synthetic cohort's investigator calls are computed with.

RANO-BM (intracranial) and RECIST 1.1 (extracranial) share the target-lesion thresholds
(docs/DOMAIN.md §1.4, §1.7): PR is a sum of longest diameters (SLD) down >=30% from
baseline; PD is SLD up >=20% from the nadir *and* one lesion up >=5 mm; CR is every target
gone.  The generator draws lesion sizes, then derives the investigator's call from them with
:func:`time_point_call`, so a clean record can never hold a call its numbers contradict.
:func:`is_clear_of_thresholds` keeps drawn values away from the cut points, so that a
checker rounding differently (or using a 1 mm default for tiny lesions) still agrees.

A deliberate second implementation (issue 12) of what ``analysis.rano`` derives: the
simulator must not compute its "investigator" calls with the code the analysis is tested
against. ``tests/test_second_implementations.py`` checks the two agree on the clean cohort.
One difference is known and kept there as the only exception: leptomeningeal disease present
but not progressing (``ia_lmd`` 1 or 2) bars CR in the analysis (CR needs LMD absent), while
:func:`time_point_call` only looks at LMD progression.
"""

from __future__ import annotations

from dataclasses import dataclass

# Time-point response codes (ia_rano_inv / ea_recist_inv share them).
CR, PR, SD, PD, NE, NON_CR_NON_PD = "1", "2", "3", "4", "5", "6"

PR_DECREASE = -0.30
PD_INCREASE = 0.20
PD_ABSOLUTE_MM = 5
#: How far (as a fraction of SLD) drawn sums must stay from either threshold.
MARGIN = 0.04


@dataclass(frozen=True)
class TargetStatus:
    """Where one scan's target lesions stand against baseline and nadir."""

    sld: int
    change_from_baseline: float
    change_from_nadir: float
    largest_increase_mm: int


def target_status(
    lesions: list[int], baseline: list[int], nadir_lesions: list[int]
) -> TargetStatus:
    """Compare one scan's target diameters with baseline and the nadir scan."""
    sld = sum(lesions)
    base = sum(baseline)
    nadir = sum(nadir_lesions)
    from_base = (sld - base) / base if base else 0.0
    from_nadir = (sld - nadir) / nadir if nadir else (1.0 if sld > 0 else 0.0)
    increase = max((now - then for now, then in zip(lesions, nadir_lesions, strict=True)), default=0)
    return TargetStatus(sld, from_base, from_nadir, increase)


def target_response(status: TargetStatus) -> str:
    """CR / PR / SD / PD of the target lesions alone."""
    if status.change_from_nadir >= PD_INCREASE and status.largest_increase_mm >= PD_ABSOLUTE_MM:
        return PD
    if status.sld == 0:
        return CR
    if status.change_from_baseline <= PR_DECREASE:
        return PR
    return SD


def is_clear_of_thresholds(status: TargetStatus) -> bool:
    """True when the scan is not within MARGIN of the PR or PD cut points."""
    if status.sld == 0:
        return True
    near_pr = abs(status.change_from_baseline - PR_DECREASE) < MARGIN
    near_pd = abs(status.change_from_nadir - PD_INCREASE) < MARGIN
    return not (near_pr or near_pd)


def time_point_call(
    target: str | None,
    *,
    nontarget: str,
    new_lesion: str,
    steroid_dex_mg: float,
    steroid_increased: bool,
    clinical_worse: bool,
    lmd_progression: bool = False,
) -> str:
    """Overall time-point response from its components (DOMAIN.md §1.4, §1.5).

    ``target`` is None for a patient without target lesions (non-target disease only).
    ``nontarget`` uses the ia_nontarget codes: 0 absent, 1 non-CR/non-PD, 2 PD, 9 NE.
    """
    if target == PD or nontarget == "2" or new_lesion == "1" or clinical_worse or lmd_progression:
        return PD
    if target == NE or (target is None and nontarget == "9"):
        return NE
    complete = nontarget == "0" and steroid_dex_mg == 0 and not steroid_increased
    if target is None:
        return CR if complete else NON_CR_NON_PD
    if target == CR:
        return CR if complete else PR
    return target
