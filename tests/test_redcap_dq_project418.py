"""REDCap's own Data Quality validation project (Project418.xml, from the REDCap validation
suite, in ../shared/corpus) loaded into the sandbox by Project XML creation, as REDCap's
validation scripts do."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest
from corpus import CORPUS_API

from sgbm_redcap.sandbox import Sandbox

PROJECT418 = CORPUS_API / "206_ucl-isd_redcap-clinical-trials-test-scripts_Project418.xml"

pytestmark = pytest.mark.skipif(
    not PROJECT418.exists(),
    reason=f"Project418.xml is not in the corpus ({PROJECT418}): the REDCap Data Quality "
           "reference cannot be checked without it")


def _records(sb: Sandbox, token: str) -> list[dict[str, str]]:
    status, _, body = sb.handle(urlencode({"token": token, "content": "record",
                                           "format": "json", "type": "flat"}))
    assert status == 200
    return json.loads(body)


def test_project_xml_datetimes_are_stored_in_redcap_s_format(tmp_path):
    """ODM writes ``2023-07-31T14:49:07``; REDCap stores (and exports) ``2023-07-31 14:49:07``,
    so no datetime value of the loaded project keeps the ISO ``T``."""
    sb = Sandbox(tmp_path / "sb")
    token = sb.create_project_from_odm(PROJECT418)
    rows = _records(sb, token)
    first = next(r for r in rows if r["record_id"] == "1" and r["redcap_repeat_instance"] == 1
                 and r["redcap_repeat_instrument"] == "data_types")
    assert first["datetime_ymd_hmss"] == "2023-07-31 14:49:07"
    fifth = next(r for r in rows if r["record_id"] == "5" and r["datetime_ymd_hm"])
    assert fifth["datetime_ymd_hm"] == "2023-08-01 01:02"
    iso = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
    assert not [(r["record_id"], k) for r in rows for k, v in r.items()
                if isinstance(v, str) and iso.match(v)]
    # a text field without validation keeps what the file says (record 10's time_mmss)
    tenth = next(r for r in rows if r["record_id"] == "10" and r["time_mmss"])
    assert tenth["time_mmss"] == "2023-08-11 12:42:17"
