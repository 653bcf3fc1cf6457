"""Key risk indicators and tolerance limits (issue 17) on small hand-made worlds whose
answers are counted by hand."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

from sgbm_redcap.config import load_settings
from sgbm_redcap.errors import ConfigError
from sgbm_redcap.monitoring import study_sites
from sgbm_redcap.monitoring.catalogue import BY_ID
from sgbm_redcap.monitoring.indicator import Value
from sgbm_redcap.monitoring.kris import ALL, NO_LOG, compute_kris
from sgbm_redcap.monitoring.limits import (
    AMBER,
    GREEN,
    INACTIVE,
    NOT_COMPUTED,
    RED,
    TOO_FEW,
    assess,
    judge,
    tolerance_limits,
)
from sgbm_redcap.monitoring.log import log_frame
from sgbm_redcap.monitoring.safety import poisson_p
from sgbm_redcap.queries.reconcile import EXISTING_COLUMNS

REF = date(2026, 6, 30)
DAGS = [("a", "Site A"), ("b", "Site B"), ("c", "Site C")]


def _base(record: str, site: str, **values: str) -> dict[str, str]:
    return {"record_id": record, "redcap_data_access_group": site,
            "redcap_repeat_instrument": "", "redcap_repeat_instance": "", "eligible": "1",
            **values}


def _rep(record: str, form: str, instance: int, **values: str) -> dict[str, str]:
    return {"record_id": record, "redcap_repeat_instrument": form,
            "redcap_repeat_instance": str(instance), **values}


def _world() -> pd.DataFrame:
    rows = [
        # site a: two patients on SG since 1 Jan (181 days each to the reference date)
        _base("1", "a", sg_start_date="2026-01-01"),
        _base("2", "a", sg_start_date="2026-01-01"),
        # site b: one patient stopped SG on 31 Jan (window to 2 Mar: 60 days), a screen failure
        _base("3", "b", sg_start_date="2026-01-01", eot_last_dose_date="2026-01-31"),
        _base("4", "b", eligible="0"),
        _rep("1", "adverse_events", 1, ae_onset_date="2026-02-01", ae_serious="1"),
        _rep("1", "adverse_events", 2, ae_onset_date="2026-03-01", ae_serious="0"),
        _rep("3", "adverse_events", 1, ae_onset_date="2026-01-10", ae_serious="0"),
        _rep("3", "adverse_events", 2, ae_onset_date="2026-04-10", ae_serious="0"),  # after
        # scans of patient 1: every 8 weeks, then a 90-day gap; patient 2 scanned once in Jan
        _rep("1", "intracranial_assessment", 1, ia_date="2025-12-20"),
        _rep("1", "intracranial_assessment", 2, ia_date="2026-02-20"),
        _rep("1", "intracranial_assessment", 3, ia_date="2026-05-21"),
        _rep("2", "intracranial_assessment", 1, ia_date="2025-12-28"),
    ]
    return pd.DataFrame(rows).fillna("")


def _queries() -> pd.DataFrame:
    def q(record, inst, status, opened, answered="", closed="", note=""):
        row = dict.fromkeys(EXISTING_COLUMNS, "")
        row.update(record_id=record, instance=inst, dq_id=f"R:{record}:f:0:x{inst}",
                   dq_status=status, dq_opened_date=opened, dq_answered_date=answered,
                   dq_closed_date=closed, dq_note=note)
        return row
    return pd.DataFrame([
        q("1", 1, "3", "2026-03-01", "2026-03-11", "2026-03-15"),   # 10 d to answer, 14 to close
        q("1", 2, "4", "2026-04-01", "2026-04-21", "", "Reopened by the sweep"),  # 20 d; open
        q("3", 1, "1", "2026-05-01"),                                 # open 60 d
    ])


@pytest.fixture()
def result():
    raw = _world()
    log = log_frame([
        {"timestamp": "2026-02-11 09:00", "username": "a_crc", "action": "Update record 1",
         "details": "[instance = 1], ae_onset_date = '2026-02-01', ae_serious = '1'",
         "record": "1"},
        {"timestamp": "2026-03-31 09:00", "username": "a_crc", "action": "Update record 1",
         "details": "[instance = 2], ae_onset_date = '2026-03-01'", "record": "1"},
        {"timestamp": "2026-01-12 09:00", "username": "b_crc", "action": "Update record 3",
         "details": "[instance = 1], ae_onset_date = '2026-01-10'", "record": "3"},
    ])
    return compute_kris(raw, _queries(), study_sites(raw, DAGS), ref=REF, log=log)


def test_query_indicators(result):
    v = result.values
    assert v["open_queries"]["a"].value == pytest.approx(1 / 2)   # the reopened one
    assert v["open_queries"]["b"].value == pytest.approx(1 / 2)   # one open, two screened
    assert v["days_to_answer"]["a"].value == 15                   # median of 10 and 20
    assert v["days_to_close"]["a"].value == 14
    assert v["reopened"]["a"].value == pytest.approx(1 / 2)
    assert v["old_queries"][ALL].value == pytest.approx(2 / 2)    # 90 d and 60 d


def test_entry_lag_from_the_log(result):
    lag = result.values["entry_lag"]
    assert lag["a"].value == 20          # median of 10 and 30 days
    assert lag["b"].value == 2
    assert lag["a"].records == ["1"]


def test_ae_rates_against_the_pooled_rate(result):
    ae = result.values["ae_rate"]
    months_a = 2 * 180 / 30.4375          # 1 Jan → 30 Jun, twice
    months_b = 60 / 30.4375               # 1 Jan → 31 Jan + 30 days
    assert ae["a"].denominator == pytest.approx(months_a)
    assert ae["b"].denominator == pytest.approx(months_b)
    assert ae["b"].numerator == 1        # the April AE is after the TEAE window
    pooled = 3 / (months_a + months_b)
    assert result.pooled["ae_rate"] == pytest.approx(pooled)
    assert ae["a"].p == pytest.approx(poisson_p(2, pooled * months_a))
    assert result.values["sae_rate"]["a"].numerator == 1


def test_poisson_p_is_the_exact_two_sided_test():
    from scipy import stats

    # 2 events where 10 are expected: twice the lower tail
    assert poisson_p(2, 10.0) == pytest.approx(2 * stats.poisson.cdf(2, 10.0))
    assert poisson_p(10, 10.0) == 1.0
    assert math.isnan(poisson_p(0, 0.0))


def test_missing_scans_and_screen_failures(result):
    scans = result.values["missing_scans"]["a"]
    # patient 1: SG start→20 Feb (50 d), →21 May (90 d, overdue), then 40 d open (not yet due)
    # patient 2: 181 days since SG start without a scan: an overdue open interval
    assert (scans.numerator, scans.denominator) == (2, 3)
    assert result.values["screen_failures"]["b"].value == pytest.approx(1 / 2)
    assert result.values["screen_failures"]["b"].records == ["4"]


def test_without_the_log_the_log_indicators_are_named_not_computed():
    raw = _world()
    r = compute_kris(raw, _queries(), study_sites(raw, DAGS), ref=REF, log=None)
    assert r.not_computed["entry_lag"] == NO_LOG and "deviations" in r.not_computed
    a = assess(r)
    assert a.status["entry_lag"]["a"] == NOT_COMPUTED
    assert a.status["open_queries"]["c"] == INACTIVE      # no patient: never red
    assert a.site_status("c") == INACTIVE


def test_judging_against_the_limits():
    kri = BY_ID["days_to_answer"]          # amber > 14, red > 28, at least 3 answers
    assert judge(kri, Value(10, "", numerator=10, denominator=5)) == GREEN
    assert judge(kri, Value(20, "", numerator=20, denominator=5)) == AMBER
    assert judge(kri, Value(40, "", numerator=40, denominator=5)) == RED
    assert judge(kri, Value(40, "", numerator=40, denominator=2)) == TOO_FEW
    assert judge(kri, Value(40, "", denominator=5), active=False) == INACTIVE
    funnel = BY_ID["ae_rate"]
    assert judge(funnel, Value(0.5, "", denominator=9, p=0.001)) == RED
    assert judge(funnel, Value(0.5, "", denominator=9, p=0.01)) == AMBER


def test_limits_come_from_the_settings_toml(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[sgbm_redcap.monitoring.days_to_answer]\namber = 7\nred = 10\n")
    limits = tolerance_limits(load_settings(path).monitoring)
    assert (limits["days_to_answer"].amber, limits["days_to_answer"].red) == (7, 10)
    assert limits["entry_lag"] == BY_ID["entry_lag"]
    with pytest.raises(ConfigError, match="Unknown indicator 'lag'"):
        tolerance_limits({"lag": {"red": 3}})
    with pytest.raises(ConfigError, match="amber .* before red"):
        tolerance_limits({"days_to_answer": {"amber": 30, "red": 10}})
