"""Fault injection, concurrency and persistence of the sandbox."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
import redcap
import requests
import responses
from sandbox_fixtures import *  # noqa: F403  (the shared fixtures)
from sandbox_fixtures import DICTIONARY, seed_two

from sgbm_redcap.sandbox import FaultPlan, Sandbox, route_responses, serve_in_thread


def _statuses(sb: Sandbox, token: str, n: int) -> list[int]:
    body = urlencode({"token": token, "content": "version"})
    return [sb.handle(body)[0] for _ in range(n)]


def test_error_rate_is_seeded_and_deterministic(sandbox, token):
    sandbox.set_faults(error_rate=0.3, seed=11)
    first = _statuses(sandbox, token, 60)
    sandbox.set_faults(error_rate=0.3, seed=11)
    assert _statuses(sandbox, token, 60) == first
    assert 5 <= first.count(500) <= 35 and set(first) == {200, 500}
    sandbox.set_faults()
    assert set(_statuses(sandbox, token, 20)) == {200}


def test_a_500_page_is_html_so_pycap_json_calls_fail_to_decode(project, sandbox):
    sandbox.set_faults(error_rate=1.0)
    with pytest.raises(json.JSONDecodeError):
        project.export_records()


def test_redcap_error_body_on_a_chosen_call(project, sandbox):
    sandbox.set_faults(redcap_errors={"record:import": [400, "The project is offline"]})
    with pytest.raises(redcap.RedcapError, match="The project is offline"):
        project.import_records([{"record_id": "1"}])
    assert project.export_records() == []  # other calls unaffected


def test_dropped_connection_over_http_and_in_process(sandbox, token):
    sandbox.set_faults(drop_rate=1.0)
    with serve_in_thread(sandbox) as url, pytest.raises(requests.ConnectionError):
        redcap.Project(url, token).export_records()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        url = route_responses(rsps, sandbox)
        with pytest.raises(requests.ConnectionError):
            redcap.Project(url, token).export_records()


def test_slow_responses(sandbox, token):
    sandbox.set_faults(slow_rate=1.0, slow_seconds=0.2)
    start = time.perf_counter()
    assert _statuses(sandbox, token, 2) == [200, 200]
    assert time.perf_counter() - start >= 0.4


def test_fault_plan_persists_with_the_sandbox(sandbox, token):
    sandbox.set_faults(FaultPlan(redcap_errors={"version": [400, "down"]}))
    again = Sandbox(sandbox.data_dir)
    assert again.faults.plan.redcap_errors == {"version": [400, "down"]}
    assert _statuses(again, token, 1) == [400]


def test_state_survives_a_restart(project, sandbox, token):
    seed_two(project)
    sandbox.store.close()
    again = Sandbox(sandbox.data_dir)
    body = urlencode({"token": token, "content": "record", "format": "json", "fields": "age"})
    status, _, data = again.handle(body)
    assert status == 200 and [r["age"] for r in json.loads(data)] == ["55", "41"]


OLD_FLAT_ROW_TABLE = """
CREATE TABLE data (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, record TEXT NOT NULL,
    event TEXT NOT NULL, instrument TEXT NOT NULL, instance INTEGER NOT NULL, fields TEXT NOT NULL);
CREATE UNIQUE INDEX data_key ON data (pid, record, event, instrument, instance);
"""


def test_a_sandbox_file_with_one_row_per_flat_row_is_migrated_on_open(project, sandbox, token):
    """Sandbox files written before the per-record table keep their values: the old ``data``
    table is moved into ``record_rows`` when the sandbox opens, and the export is unchanged."""
    seed_two(project)
    body = urlencode({"token": token, "content": "record", "format": "csv"})
    _, _, before = sandbox.handle(body)
    pid = sandbox.store.token_owner(token)[0]
    rows = sandbox.store.read_rows(pid)
    assert any(key[2] for key in rows)  # a repeating row is part of what moves
    conn = sandbox.store.conn
    conn.executescript(OLD_FLAT_ROW_TABLE)
    conn.executemany("INSERT INTO data (pid, record, event, instrument, instance, fields) "
                     "VALUES (?,?,?,?,?,?)",
                     [(pid, *key, json.dumps(values)) for key, values in reversed(rows.items())])
    conn.execute("DELETE FROM record_rows")
    sandbox.store.close()
    again = Sandbox(sandbox.data_dir)
    status, _, after = again.handle(body)
    assert status == 200 and after == before
    tables = {n for (n,) in again.store.conn.execute("SELECT name FROM sqlite_master")}
    assert "data" not in tables and again.store.read_rows(pid) == rows


def test_concurrent_new_instances_of_one_record_are_all_kept(sandbox, token):
    """Sixteen clients add 20 'new' adverse-event instances each to the same record at once:
    every instance is kept, numbered 1..320 (planning outside the write lock once gave
    several imports the same instance numbers, and 260 of 320 events were overwritten)."""
    with serve_in_thread(sandbox) as url:
        redcap.Project(url, token).import_records([{"record_id": "1", "age": "50"}])

        def add(k: int) -> dict:
            return redcap.Project(url, token).import_records([
                {"record_id": "1", "redcap_repeat_instrument": "adverse_events",
                 "redcap_repeat_instance": "new", "ae_term": "1", "ae_comment": f"{k}-{j}"}
                for j in range(20)])

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert list(pool.map(add, range(16))) == [{"count": 1}] * 16
        rows = [r for r in redcap.Project(url, token).export_records()
                if r["redcap_repeat_instrument"] == "adverse_events"]
    assert len({r["ae_comment"] for r in rows}) == 320
    assert sorted(int(r["redcap_repeat_instance"]) for r in rows) == list(range(1, 321))


def test_concurrent_imports_over_http_all_land(sandbox, token):
    with serve_in_thread(sandbox) as url:
        def load(batch: int) -> dict:
            p = redcap.Project(url, token)
            rows = [{"record_id": f"{batch}-{i}", "age": str(30 + i)} for i in range(20)]
            rows += [{"record_id": f"{batch}-{i}", "redcap_repeat_instrument": "adverse_events",
                      "redcap_repeat_instance": "new", "ae_term": "1"} for i in range(20)]
            return p.import_records(rows)

        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(load, range(12)))
        assert results == [{"count": 20}] * 12
        p = redcap.Project(url, token)
        assert len(p.export_records(fields=["age"])) == 240
        instances = [r["redcap_repeat_instance"] for r in p.export_records(
            forms=["adverse_events"]) if r["redcap_repeat_instrument"]]
        assert instances == [1] * 240


def test_two_projects_are_isolated(sandbox, token):
    other = sandbox.create_project(DICTIONARY, repeating_forms=["adverse_events"])
    sandbox.handle(urlencode({"token": token, "content": "record", "format": "json",
                              "data": json.dumps([{"record_id": "1"}])}))
    status, _, data = sandbox.handle(urlencode({"token": other, "content": "record",
                                                "format": "json"}))
    assert (status, json.loads(data)) == (200, [])
