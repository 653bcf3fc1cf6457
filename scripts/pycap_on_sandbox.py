"""A pytest plugin (``-p pycap_on_sandbox``) that points PyCap's own test fixtures at a local
sandbox and counts doctest examples; used by ``scripts/pycap_suite.sh``.

PyCap's suite creates its projects on ``redcapdemo_url()`` with the super token in
``REDCAPDEMO_SUPERUSER_TOKEN``; this replaces that function by ``PYCAP_SANDBOX_URL`` before
PyCap's conftests import it, and sends the one doctest that spells the demo server's URL
out (``redcap.project.Project``) to the sandbox too. Nothing else of PyCap's is changed.
"""

from __future__ import annotations

import doctest
import os
from typing import Any

import requests.sessions
import tests.integration.conftest as integration_conftest  # PyCap's, from its checkout

URL = os.environ["PYCAP_SANDBOX_URL"]
DEMO = "https://redcapdemo.vumc.org/api/"

integration_conftest.redcapdemo_url = lambda: URL

_request = requests.sessions.Session.request


def _to_sandbox(self: requests.sessions.Session, method: str, url: Any, *args: Any,
                **kwargs: Any) -> Any:
    if isinstance(url, str) and url.startswith(DEMO):
        url = URL + url[len(DEMO):]
    return _request(self, method, url, *args, **kwargs)


requests.sessions.Session.request = _to_sandbox  # type: ignore[method-assign]

_totals = {"attempted": 0, "failed": 0}
_run = doctest.DocTestRunner.run


def _counting_run(self: doctest.DocTestRunner, test: doctest.DocTest, *args: Any,
                  **kwargs: Any) -> Any:
    failed, tried = self.failures, self.tries
    try:
        return _run(self, test, *args, **kwargs)
    finally:
        _totals["attempted"] += self.tries - tried
        _totals["failed"] += self.failures - failed


doctest.DocTestRunner.run = _counting_run  # type: ignore[method-assign]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _totals["attempted"]:
        passed = _totals["attempted"] - _totals["failed"]
        terminalreporter.write_line(
            f"doctest examples: {passed} of {_totals['attempted']} passed")
