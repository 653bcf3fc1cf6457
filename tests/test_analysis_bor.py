"""Confirmed BOR against the nine-subject vector of admiralonco (DOMAIN §1.5, commit 14bfe08)."""

import pandas as pd
import pytest

from sgbm_redcap.analysis.bor import BorRules, best_overall_response
from sgbm_redcap.errors import AnalysisInputError

REFERENCE = {"1": "2020-01-01", "2": "2019-12-12", "3": "2019-11-11", "4": "2019-12-30",
             "5": "2020-01-01", "6": "2020-02-02", "7": "2020-02-02", "8": "2020-04-01",
             "9": "2020-02-01"}
SERIES = """
1 2020-01-01 PR; 1 2020-02-01 CR; 1 2020-02-16 NE; 1 2020-03-01 CR; 1 2020-04-01 SD
2 2020-01-01 SD; 2 2020-02-01 PR; 2 2020-03-01 SD; 2 2020-03-13 CR
3 2019-11-12 CR; 3 2019-12-02 CR; 3 2020-01-01 SD
4 2020-01-01 PR; 4 2020-03-01 SD; 4 2020-04-01 SD; 4 2020-05-01 PR; 4 2020-05-15 NON-CR/NON-PD
5 2020-01-01 PR; 5 2020-01-10 SD; 5 2020-01-20 PR; 5 2020-05-15 NON-CR/NON-PD
6 2020-02-06 PR; 6 2020-02-16 CR; 6 2020-03-30 PR
7 2020-02-06 PR; 7 2020-02-16 CR; 7 2020-04-01 NE
9 2020-02-16 PD; 9 2020-03-06 SD
"""
PD_DATES = {"9": pd.Timestamp("2020-02-16")}


def _assessments(text=SERIES):
    rows = [item.split(" ", 2) for line in text.strip().splitlines() for item in line.split("; ")]
    frame = pd.DataFrame(rows, columns=["subject", "date", "response"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def _refs():
    return {k: pd.Timestamp(v) for k, v in REFERENCE.items()}


def _as_dict(result):
    return {r.subject: (r.response, None if pd.isna(r.date) else r.date.strftime("%Y-%m-%d"))
            for r in result.itertuples()}


def test_admiralonco_test1_default_confirmation():
    result = best_overall_response(_assessments(), _refs(), pd_dates=PD_DATES,
                                   rules=BorRules(ref_start_window=28, ref_confirm=28))
    assert _as_dict(result) == {
        "1": ("CR", "2020-02-01"), "2": ("SD", "2020-02-01"), "3": ("SD", "2020-01-01"),
        "4": ("SD", "2020-03-01"), "5": ("NON-CR/NON-PD", "2020-05-15"),
        "6": ("SD", "2020-03-30"), "7": ("NE", "2020-02-06"), "8": ("MISSING", None),
        "9": ("PD", "2020-02-16"),
    }


def test_admiralonco_test2_accept_sd_nd_missing_as_ne():
    frame = _assessments()
    frame = pd.concat([frame[frame.subject != "7"],
                       _assessments("7 2020-04-02 ND")], ignore_index=True)
    rules = BorRules(ref_start_window=28, ref_confirm=14, max_nr_ne=0, accept_sd=True,
                     missing_as_ne=True)
    result = best_overall_response(frame, _refs(), pd_dates=PD_DATES, rules=rules)
    assert _as_dict(result) == {
        "1": ("PR", "2020-01-01"), "2": ("PR", "2020-02-01"), "3": ("CR", "2019-11-12"),
        "4": ("SD", "2020-03-01"), "5": ("PR", "2020-01-01"), "6": ("SD", "2020-03-30"),
        "7": ("ND", "2020-04-02"), "8": ("NE", None), "9": ("PD", "2020-02-16"),
    }


def test_unconfirmed_takes_a_single_response():
    result = best_overall_response(_assessments(), _refs(), pd_dates=PD_DATES, confirmed=False,
                                   rules=BorRules(ref_start_window=28, ref_confirm=28))
    got = _as_dict(result)
    assert got["7"] == ("CR", "2020-02-16")  # never confirmed, but a CR unconfirmed
    assert got["2"] == ("CR", "2020-03-13")
    assert got["9"] == ("PD", "2020-02-16")  # the SD after the first PD is ignored


def test_without_pd_dates_assessments_after_pd_count():
    result = best_overall_response(_assessments(), _refs(),
                                   rules=BorRules(ref_start_window=28, ref_confirm=28))
    assert _as_dict(result)["9"] == ("SD", "2020-03-06")


def test_unknown_response_value_is_rejected():
    frame = _assessments("1 2020-01-01 iCR")
    with pytest.raises(AnalysisInputError):
        best_overall_response(frame, _refs())
