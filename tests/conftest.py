"""Session-wide test set-up."""

from __future__ import annotations

import pytest
from corpus import CORPUS_API, CORPUS_DICTS, MISSING_MESSAGE


def pytest_sessionstart(session: pytest.Session) -> None:
    if not (CORPUS_DICTS.is_dir() and CORPUS_API.is_dir()):
        raise pytest.UsageError(MISSING_MESSAGE)
