"""Against the sandbox with fault injection (HTTP 500s, dropped connections) and with a sweep
killed half way: repeated sweeps converge to exactly the queries of a fault-free run."""

from __future__ import annotations

import pytest
from sweep_helpers import seeded_study

from sgbm_redcap.errors import RedcapConnectionError
from sgbm_redcap.queries.backends import RecordsBackend

KEY = ["record_id", "instance", "dq_id", "dq_status", "dq_message", "dq_opened_date"]


def state(study):
    return study.queries()[KEY].sort_values(["record_id", "instance"]).reset_index(drop=True)


def expected_rows(plan):
    rows = [{"record_id": r["record_id"], "instance": int(r["redcap_repeat_instance"]),
             "dq_id": r["dq_id"], "dq_status": r["dq_status"], "dq_message": r["dq_message"],
             "dq_opened_date": r["dq_opened_date"]} for r in plan.rows()]
    import pandas as pd

    return pd.DataFrame(rows)[KEY].sort_values(["record_id", "instance"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    with seeded_study(tmp_path_factory.mktemp("faults"), n=20, problem_rate=0.4) as s:
        yield s


def test_sweeps_under_faults_converge_to_the_fault_free_queries(study):
    fault_free = expected_rows(study.sweep(dry_run=True).plan)
    study.sandbox.set_faults(error_rate=0.2, drop_rate=0.1, seed=11)
    completed, failures = 0, 0
    try:
        for _ in range(12):
            try:
                study.sweep(batch_size=2)
            except RedcapConnectionError:
                failures += 1
                continue
            completed += 1
            if completed == 2:
                break
    finally:
        study.sandbox.set_faults()
    assert completed == 2
    got = state(study)
    assert got["dq_id"].is_unique, "duplicate queries"
    assert not got.duplicated(["record_id", "instance"]).any()
    assert got.equals(fault_free)
    assert study.sweep().sent == 0


class Killed(Exception):
    pass


class KilledAfter(RecordsBackend):
    """A backend whose process 'dies' after ``n`` successful sends."""

    def __init__(self, inner: RecordsBackend, n: int):
        super().__init__(inner.http)
        self.left = n

    def send(self, actions):
        if self.left == 0:
            raise Killed()
        self.left -= 1
        return super().send(actions)


def test_sweep_killed_half_way_then_rerun_creates_no_duplicates(tmp_path):
    from sweep_helpers import TODAY

    from sgbm_redcap.jobs import make_backend, study_dictionary
    from sgbm_redcap.queries import AuditLog
    from sgbm_redcap.sweep import run_sweep

    with seeded_study(tmp_path, n=12, problem_rate=0.5, seed=5) as s:
        fault_free = expected_rows(s.sweep(dry_run=True).plan)
        assert len(fault_free) >= 4
        audit = AuditLog(tmp_path / "audit.jsonl")
        dying = KilledAfter(make_backend("records", s.url, s.token), 1)
        with pytest.raises(Killed):
            run_sweep(s.source(), dying, audit=audit, dictionary=study_dictionary(),
                      today=TODAY, batch_size=2)
        assert len(state(s)) == 2
        # the audit log already holds the batch that never went out
        assert len(audit.read()) == 4
        s.sweep(audit=audit)
        assert state(s).equals(fault_free)
