"""End to end against the sandbox over real HTTP on 127.0.0.1: a pull through fault injection
(20% HTTP 500s and 20% dropped connections) gives exactly the tables of a clean pull, and an
incremental sweep after edits and a deletion equals a fresh full pull."""

from __future__ import annotations

import pandas as pd
import pytest
import redcap

from sgbm_redcap.config import Settings
from sgbm_redcap.sandbox import FaultPlan, Sandbox, serve_in_thread
from sgbm_redcap.source import RedcapSource
from sgbm_redcap.synthetic.seed import seed_study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    sandbox = Sandbox(tmp_path_factory.mktemp("sandbox"))
    with serve_in_thread(sandbox, port=0) as url:
        seeded = seed_study(sandbox, n=20, api_url=url)
        yield sandbox, url, seeded.token


def _settings(tmp_path, **kw) -> Settings:
    base = dict(retries=8, backoff_s=0.0, timeout_s=10.0, cache_dir=tmp_path / "cache")
    base.update(kw)
    return Settings(**base)


def assert_same_tables(a, b) -> None:
    assert list(a) == list(b)
    for form in a:
        pd.testing.assert_frame_equal(a[form], b[form], obj=form)
    pd.testing.assert_frame_equal(a.raw, b.raw)


@pytest.fixture(scope="module")
def clean(study, tmp_path_factory):
    _sandbox, url, token = study
    return RedcapSource(url, token, settings=_settings(tmp_path_factory.mktemp("clean")),
                        cache_dir=False, batch_size=7, progress=False).tables()


def test_pull_through_injected_faults_equals_a_clean_pull(study, clean, tmp_path):
    sandbox, url, token = study
    assert len(clean["enrolment"]) == 20
    assert clean.pull.traffic.retries == 0
    sandbox.set_faults(FaultPlan(error_rate=0.2, drop_rate=0.2, seed=20240801))
    try:
        faulty = RedcapSource(url, token, settings=_settings(tmp_path), cache_dir=False,
                              batch_size=7, progress=False).tables()
    finally:
        sandbox.set_faults(FaultPlan())
    assert faulty.pull.traffic.retries >= 3  # the faults really happened
    assert_same_tables(clean, faulty)


def test_study_tables_follow_the_contract(clean):
    t = clean
    enrol, ae = t["enrolment"], t["adverse_events"]
    assert enrol["record_id"].is_unique and len(enrol) == t.raw["record_id"].nunique()
    assert list(ae.columns[:3]) == ["record_id", "redcap_data_access_group",
                                    "redcap_repeat_instance"]
    assert enrol["redcap_data_access_group"].notna().all()
    assert str(enrol["screening_date"].dtype) == "datetime64[ns]"
    assert str(enrol["eligible"].dtype) == "boolean"
    assert str(ae["ae_grade"].dtype) == "category"
    assert str(t["tumour"]["ec_mets___1"].dtype) == "boolean"
    assert str(t["sg_administration"]["adm_cycle"].dtype) == "Int64"
    assert (t.raw == "").any().any() and not t.raw.isna().any().any()
    n_ae_rows = (t.raw["redcap_repeat_instrument"] == "adverse_events").sum()
    assert len(ae) == n_ae_rows


def test_sweep_after_edits_and_a_deletion_equals_a_full_pull(study, tmp_path):
    _sandbox, url, token = study
    source = RedcapSource(url, token, settings=_settings(tmp_path), batch_size=9,
                          progress=False)
    first = source.pull()
    assert first.mode == "full"
    project = redcap.Project(url, token)
    ids = first.changed_records  # a full pull fetches every record
    changed, deleted = ids[3], ids[5]
    project.import_records([{"record_id": changed, "inelig_reason": "edited by the sweep test"}])
    project.delete_records([deleted])
    sweep = source.tables()
    assert sweep.pull.mode == "incremental"
    assert changed in sweep.pull.changed_records
    assert sweep.pull.deleted_records == [deleted]
    assert len(sweep.pull.changed_records) < len(ids) / 2
    assert deleted not in set(sweep["enrolment"]["record_id"])
    fresh = RedcapSource(url, token, settings=_settings(tmp_path / "fresh"), cache_dir=False,
                         progress=False).tables()
    assert_same_tables(sweep, fresh)
    row = sweep["enrolment"].set_index("record_id").loc[changed]
    assert row["inelig_reason"] == "edited by the sweep test"


def test_a_changed_choice_list_is_noticed_by_the_next_sweep(tmp_path):
    """Sweeps reuse the cached dictionary while the log shows no design change; a change of
    a field's choices between two sweeps is logged as one, so the next sweep exports the
    metadata, finds it changed and pulls in full with the new labels."""
    sandbox = Sandbox(tmp_path / "sandbox")
    with serve_in_thread(sandbox, port=0) as url:
        token = seed_study(sandbox, n=6, problem_rate=0.0, api_url=url).token
        source = RedcapSource(url, token, settings=_settings(tmp_path), progress=False)
        assert source.tables().pull.mode == "full"
        project = redcap.Project(url, token)
        project.import_records([{"record_id": "1", "inelig_reason": "a quiet edit"}])
        source.tables()  # may re-read the seeding's own design entries of this minute
        project.import_records([{"record_id": "2", "inelig_reason": "another quiet edit"}])
        quiet = source.tables()
        assert quiet.pull.mode == "incremental" and quiet.pull.metadata_exported == ""
        assert "export_metadata" not in quiet.pull.traffic.calls
        metadata = project.export_metadata(format_type="json")
        row = next(r for r in metadata if r["field_name"] == "ecog")
        codes = [c.split(",")[0].strip() for c in row["select_choices_or_calculations"].split("|")]
        row["select_choices_or_calculations"] = " | ".join(f"{c}, ECOG grade {c}" for c in codes)
        project.import_metadata(metadata, import_format="json")
        changed = source.tables()
    assert changed.pull.metadata_exported == "the project log shows a design change"
    assert changed.pull.mode == "full" and "metadata changed" in changed.pull.reason
    assert list(changed["demographics"]["ecog"].cat.categories) == [
        f"ECOG grade {c}" for c in codes]
