"""RedcapSource against a fake REDCap answered through `responses` (HTTP boundary, no
patching of privates): batching, incremental sweeps confirmed against the log, deletions,
metadata changes, the cache, and the account of what crossed the wire."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import pandas as pd
import pytest
import responses

from sgbm_redcap.config import Settings
from sgbm_redcap.errors import RedcapApiError, RedcapAuthError
from sgbm_redcap.source import RedcapSource
from sgbm_redcap.source.metadata import METADATA_KEYS

URL = "https://redcap.example.org/api/"
TOKEN = "0123456789ABCDEF0123456789ABCDEF"

DICTIONARY = [
    # field_name, form, type, choices, validation
    ("record_id", "enrolment", "text", "", ""),
    ("enrol_date", "enrolment", "text", "", "date_ymd"),
    ("age", "enrolment", "text", "", "integer"),
    ("sex", "enrolment", "radio", "1, Female | 2, Male", ""),
    ("consent", "enrolment", "yesno", "", ""),
    ("visit_date", "visits", "text", "", "date_ymd"),
    ("weight", "visits", "text", "", "number"),
    ("symptoms", "visits", "checkbox", "1, Headache | 2, Nausea", ""),
]
FORMS = ["enrolment", "visits"]


def export_columns(meta: list[tuple[str, str, str, str, str]]) -> list[str]:
    cols = ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance",
            "redcap_data_access_group"]
    for form in dict.fromkeys(m[1] for m in meta):
        for name, f, ftype, choices, _v in meta:
            if f != form or name == "record_id":
                continue
            if ftype == "checkbox":
                cols += [f"{name}___{c.split(',')[0].strip()}" for c in choices.split("|")]
            else:
                cols.append(name)
        cols.append(f"{form}_complete")
    return cols


class FakeRedcap:
    """Just enough of REDCap's API for a pull: metadata, setup, records, log."""

    def __init__(self, n_records: int = 7):
        self.meta = list(DICTIONARY)
        # the server's clock: local time of a server 5 hours behind UTC, minutes only
        self.clock = (datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0)
                      - timedelta(hours=5))
        self.rows: dict[str, list[dict[str, str]]] = {}
        self.log: list[dict[str, str]] = []
        self.requests: list[dict[str, list[str]]] = []
        self.fail_next: list[tuple[int, str]] = []
        for i in range(1, n_records + 1):
            self.save(str(i), visits=i % 3)

    def tick(self, minutes: int = 1) -> None:
        self.clock += timedelta(minutes=minutes)

    def save(self, rid: str, *, visits: int = 1, age: str | None = None) -> None:
        cols = export_columns(self.meta)
        base = dict.fromkeys(cols, "")
        base.update(record_id=rid, redcap_data_access_group=f"site_{int(rid) % 2}",
                    enrol_date=f"2025-01-{int(rid) % 28 + 1:02d}", age=age or str(40 + int(rid)),
                    sex=str(int(rid) % 2 + 1), consent="1", enrolment_complete="2")
        rows = [base]
        for k in range(1, visits + 1):
            row = dict.fromkeys(cols, "")
            row.update(record_id=rid, redcap_repeat_instrument="visits",
                       redcap_repeat_instance=str(k), redcap_data_access_group=base[
                           "redcap_data_access_group"], visit_date=f"2025-02-{k:02d}",
                       weight=f"{60 + k}.5", symptoms___1="1", symptoms___2="0",
                       visits_complete="1")
            rows.append(row)
        action = "Updated" if rid in self.rows else "Created"
        self.rows[rid] = rows
        self.log.append({"timestamp": self.clock.strftime("%Y-%m-%d %H:%M"),
                         "username": "site_user", "action": f"{action} Record {rid}",
                         "details": "", "record": rid})

    def redesign(self, field: tuple[str, str, str, str, str]) -> None:
        """Add a field, logged the way REDCap logs design changes."""
        self.meta.append(field)
        self.log.append({"timestamp": self.clock.strftime("%Y-%m-%d %H:%M"),
                         "username": "designer", "action": "Manage/Design ",
                         "details": f"Create project field {field[0]}", "record": ""})

    def delete(self, rid: str) -> None:
        del self.rows[rid]
        self.log.append({"timestamp": self.clock.strftime("%Y-%m-%d %H:%M"),
                         "username": "site_user", "action": f"Deleted Record {rid}",
                         "details": "", "record": rid})

    # -- HTTP --------------------------------------------------------------------------

    def __call__(self, request):  # responses callback
        form = parse_qs(request.body if isinstance(request.body, str)
                        else request.body.decode(), keep_blank_values=True)
        self.requests.append(form)
        if self.fail_next:
            status, body = self.fail_next.pop(0)
            return status, {}, body
        if form.get("token") != [TOKEN]:
            return 403, {}, json.dumps({"error": "You do not have permissions to use the API"})
        content = form["content"][0]
        handler = getattr(self, f"_{content}", None)
        if handler is None:
            return 400, {}, json.dumps({"error": f"content {content} not faked"})
        return handler(form)

    def _metadata(self, form):
        if form.get("format") == ["json"]:
            return 200, {}, json.dumps([
                dict(dict.fromkeys(METADATA_KEYS, ""), field_name=name, form_name=f,
                     field_type=ftype, field_label=name, select_choices_or_calculations=choices,
                     text_validation_type_or_show_slider_number=validation)
                for name, f, ftype, choices, validation in self.meta])
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(METADATA_KEYS)
        for name, f, ftype, choices, validation in self.meta:
            row = dict.fromkeys(METADATA_KEYS, "")
            row.update(field_name=name, form_name=f, field_type=ftype, field_label=name,
                       select_choices_or_calculations=choices,
                       text_validation_type_or_show_slider_number=validation)
            w.writerow(row.values())
        return 200, {}, buf.getvalue()

    def _repeatingFormsEvents(self, form):
        return 200, {}, json.dumps([{"event_name": "", "form_name": "visits",
                                     "custom_form_label": ""}])

    def _dag(self, form):
        return 200, {}, json.dumps([{"data_access_group_name": "Site 0",
                                     "unique_group_name": "site_0"}])

    def _formEventMapping(self, form):
        return 400, {}, json.dumps({"error": "You cannot export form/event mappings for "
                                             "classic projects"})

    def _log(self, form):
        begin = form.get("beginTime", [""])[0]
        entries = [e for e in self.log if not begin or e["timestamp"] >= begin[:16]]
        return 200, {}, json.dumps(list(reversed(entries)))

    def _record(self, form):
        wanted = [v for k, v in sorted(form.items()) if k.startswith("records[")]
        wanted = [v[0] for v in wanted]
        fields = [v[0] for k, v in form.items() if k.startswith("fields[")]
        begin = form.get("dateRangeBegin", [""])[0]
        rids = sorted(self.rows, key=int)
        if wanted:
            rids = [r for r in rids if r in wanted]
        if begin:
            touched = {e["record"] for e in self.log if e["timestamp"] >= begin[:16]}
            rids = [r for r in rids if r in touched]
        cols = export_columns(self.meta)
        if fields == ["record_id"]:
            cols = cols[:4]
        rows = [r for rid in rids for r in self.rows[rid]]
        if fields == ["record_id"]:
            rows = [r for r in rows if r["redcap_repeat_instrument"] == ""]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return 200, {}, buf.getvalue()

    def record_calls(self) -> list[dict[str, list[str]]]:
        return [r for r in self.requests if r.get("content") == ["record"]]


@pytest.fixture
def fake():
    server = FakeRedcap()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, URL, callback=server)
        yield server


def make_source(tmp_path, every: int = 10, **kw) -> RedcapSource:
    settings = Settings(retries=0, backoff_s=0, cache_dir=tmp_path / "cache",
                        metadata_check_every=every)
    return RedcapSource(URL, TOKEN, settings=settings, progress=False, **kw)


def test_full_pull_in_batches_gives_typed_tables(fake, tmp_path):
    source = make_source(tmp_path, batch_size=3)
    t = source.tables()
    pull = t.pull
    assert pull.mode == "full"
    assert pull.batches == 3  # 7 records in batches of 3
    batch_sizes = [sum(k.startswith("records[") for k in r) for r in fake.record_calls()]
    assert sorted(batch_sizes) == [0, 1, 3, 3]  # id listing, then the three batches
    enrol = t["enrolment"]
    assert list(enrol["record_id"]) == [str(i) for i in range(1, 8)]
    assert str(enrol["enrol_date"].dtype) == "datetime64[ns]"
    assert str(enrol["age"].dtype) == "Int64"
    assert list(enrol["sex"].cat.categories) == ["Female", "Male"]
    assert str(enrol["consent"].dtype) == "boolean"
    visits = t["visits"]
    assert len(visits) == sum(i % 3 for i in range(1, 8))
    assert str(visits["redcap_repeat_instance"].dtype) == "Int64"
    assert str(visits["symptoms___1"].dtype) == "boolean"
    assert str(visits["weight"].dtype) == "Float64"
    assert set(enrol["redcap_data_access_group"]) == {"site_0", "site_1"}
    assert pull.traffic.bytes_received > 0 and pull.traffic.requests >= 8


def test_batch_size_does_not_change_the_tables(fake, tmp_path):
    small = make_source(tmp_path / "a", batch_size=2, cache_dir=False).tables()
    large = make_source(tmp_path / "b", batch_size=100, cache_dir=False).tables()
    for form in small:
        pd.testing.assert_frame_equal(small[form], large[form])
    pd.testing.assert_frame_equal(small.raw, large.raw)


def test_sweep_fetches_only_changed_records_and_matches_a_full_pull(fake, tmp_path):
    source = make_source(tmp_path, batch_size=3)
    source.tables()
    fake.tick()
    fake.save("3", visits=4, age="77")
    fake.save("8", visits=1)  # a new record
    fake.delete("5")
    fake.tick()
    calls_before = len(fake.record_calls())
    sweep = source.tables()
    assert sweep.pull.mode == "incremental"
    assert sweep.pull.changed_records == ["3", "8"]
    assert sweep.pull.deleted_records == ["5"]
    new_calls = fake.record_calls()[calls_before:]
    assert any("dateRangeBegin" in c for c in new_calls)
    exported = sorted(v[0] for c in new_calls for k, v in c.items() if k.startswith("records["))
    assert exported == ["3", "5", "8"]
    fresh = make_source(tmp_path / "fresh", cache_dir=False).tables()
    for form in fresh:
        pd.testing.assert_frame_equal(sweep[form], fresh[form])
    assert sweep["enrolment"].set_index("record_id").loc["3", "age"] == 77


def test_log_confirms_what_the_date_filter_missed(fake, tmp_path):
    source = make_source(tmp_path)
    source.tables()
    fake.tick()
    fake.save("2", age="99")
    # The date filter misses record 2 (as a REDCap with a lagging log index might): the log
    # still names it, so the sweep fetches it.
    original = fake._record

    def no_date_hits(form):
        if "dateRangeBegin" in form:
            form = {k: v for k, v in form.items() if k != "dateRangeBegin"}
            form["records[0]"] = ["no-such-record"]
        return original(form)

    fake._record = no_date_hits
    sweep = source.tables()
    assert sweep.pull.changed_records == ["2"]
    assert sweep["enrolment"].set_index("record_id").loc["2", "age"] == 99


def test_watermark_comes_from_the_server_log_not_our_clock(fake, tmp_path):
    source = make_source(tmp_path)
    source.tables()
    server_now = fake.clock.strftime("%Y-%m-%d %H:%M:00")
    assert source.last_pull.watermark == server_now
    fake.tick(5)
    source.tables()
    sent = [c["dateRangeBegin"][0] for c in fake.record_calls() if "dateRangeBegin" in c]
    assert sent == [server_now]


def test_metadata_change_forces_a_full_pull(fake, tmp_path):
    source = make_source(tmp_path)
    source.tables()
    fake.tick()
    fake.redesign(("notes", "visits", "notes", "", ""))
    again = source.tables()
    assert again.pull.mode == "full"
    assert "metadata changed" in again.pull.reason
    assert again.pull.metadata_exported == "the project log shows a design change"
    assert "notes" in again["visits"].columns


def _metadata_calls(fake) -> int:
    return sum(r.get("content") in (["metadata"], ["repeatingFormsEvents"], ["dag"],
                                    ["formEventMapping"]) for r in fake.requests)


def test_quiet_sweeps_reuse_the_cached_dictionary(fake, tmp_path):
    source = make_source(tmp_path)
    first = source.tables()
    assert first.pull.metadata_exported == "no cache"
    for i in range(3):
        fake.tick()
        fake.save(str(2 + i), age="77")
        before = _metadata_calls(fake)
        sweep = source.tables()
        assert sweep.pull.mode == "incremental" and sweep.pull.metadata_exported == ""
        assert _metadata_calls(fake) == before  # no metadata, setup, DAG or mapping export
        assert sweep.pull.traffic.calls.keys() == {"export_logging", "export_records"}
    assert list(sweep["enrolment"]["age"])[1:4] == [77, 77, 77]
    fresh = make_source(tmp_path / "fresh").tables(full=True)
    for form in fresh:  # typed by the cached dictionary = typed by the server's
        pd.testing.assert_frame_equal(sweep[form], fresh[form], obj=form)
    # a fresh source (a new process: the daily sweep) sweeps without the metadata too
    fake.tick()
    fake.save("1", age="78")
    again = make_source(tmp_path).tables()
    assert again.pull.mode == "incremental" and again.pull.metadata_exported == ""
    assert again["enrolment"]["age"].iloc[0] == 78


def test_a_design_change_the_log_does_not_show_is_caught_by_the_periodic_check(fake, tmp_path):
    source = make_source(tmp_path, every=3)
    source.tables()
    fake.meta.append(("notes", "visits", "notes", "", ""))  # changed, but not logged
    seen = []
    for _ in range(3):
        fake.tick()
        fake.save("3", age="60")
        seen.append(source.tables().pull)
    assert [p.mode for p in seen] == ["incremental", "incremental", "full"]
    assert seen[2].metadata_exported.startswith("full check every 3 sweeps")
    assert "metadata changed" in seen[2].reason


def test_full_flag_repulls_everything(fake, tmp_path):
    source = make_source(tmp_path)
    source.tables()
    assert source.tables(full=True).pull.mode == "full"
    assert source.tables().pull.mode == "incremental"


def test_rejected_token_is_a_named_error_with_what_to_do(fake, tmp_path):
    other = "F" * 32
    source = RedcapSource(URL, other, settings=Settings(retries=0), cache_dir=False,
                          progress=False)
    with pytest.raises(RedcapAuthError) as info:
        source.tables()
    err = info.value
    assert err.call == "export_metadata" and err.status_code == 403
    assert "You do not have permissions to use the API" in err.redcap_message
    assert "SGBM_REDCAP_TOKEN" in str(err)


def test_redcap_error_message_is_kept(fake, tmp_path):
    fake.fail_next = [(400, json.dumps({"error": "The value of the parameter \"content\" "
                                                "is not valid"}))]
    source = make_source(tmp_path)
    with pytest.raises(RedcapApiError) as info:
        source.tables()
    assert info.value.call == "export_metadata"
    assert info.value.status_code == 400
    assert "is not valid" in str(info.value)


def test_many_sweeps_are_folded_into_a_new_base(fake, tmp_path):
    from sgbm_redcap.source.cache import COMPACT_AFTER

    source = make_source(tmp_path)
    source.tables()
    for i in range(COMPACT_AFTER + 1):
        fake.tick()
        fake.save(str(1 + i % 7), visits=1 + i % 3, age=str(50 + i))
        source.pull()
    cache = tmp_path / "cache"
    assert len(list(cache.glob("delta-*.arrow"))) == COMPACT_AFTER + 1
    swept = source.tables()
    assert not list(cache.glob("delta-*.arrow"))  # compacted while reading
    fresh = make_source(tmp_path / "fresh", cache_dir=False).tables()
    for form in fresh:
        pd.testing.assert_frame_equal(swept[form], fresh[form])
    again = make_source(tmp_path).tables()  # a new process reading the compacted cache
    pd.testing.assert_frame_equal(again.raw, fresh.raw)


def test_broken_cache_is_a_named_error(fake, tmp_path):
    from sgbm_redcap.errors import SourceDataError

    source = make_source(tmp_path)
    source.tables()
    (tmp_path / "cache" / "state.json").write_text("{not json")
    with pytest.raises(SourceDataError, match="--full"):
        source.tables()
    assert source.tables(full=True).pull.mode == "full"


def test_progress_bar_only_on_a_terminal(fake, tmp_path, capsys):
    quiet = RedcapSource(URL, TOKEN, settings=Settings(retries=0), cache_dir=False)
    assert quiet.progress is False  # pytest's captured stderr is not a terminal
    quiet.tables()
    assert "export_records" not in capsys.readouterr().err
    RedcapSource(URL, TOKEN, settings=Settings(retries=0), cache_dir=False,
                 progress=True).tables()
    assert "export_records" in capsys.readouterr().err


def test_without_the_logging_right_sweeps_still_catch_edits(fake, tmp_path, caplog):
    fake._log = lambda form: (403, {}, json.dumps({"error": "You do not have permissions to "
                                                            "use the API"}))
    source = make_source(tmp_path)
    source.tables()
    assert "Logging right" in caplog.text
    fake.tick()
    fake.save("4", age="88")
    sweep = source.tables()
    assert sweep.pull.mode == "incremental" and "4" in sweep.pull.changed_records
    assert sweep["enrolment"].set_index("record_id").loc["4", "age"] == 88
