"""Where the tests find the real-world REDCap corpus (never copied into this repository).

``../shared/corpus`` beside the checkout, as laid out for developers and CI, or the folder
named by ``SGBM_CORPUS``. ``conftest.py`` stops the run with this explanation when it is
missing, rather than letting corpus tests skip or fail one by one.
"""

from __future__ import annotations

import os
from pathlib import Path

CORPUS = Path(
    os.environ.get("SGBM_CORPUS") or Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
)
CORPUS_DICTS = CORPUS / "dictionaries"
CORPUS_API = CORPUS / "api_fixtures"

MISSING_MESSAGE = (
    f"The tests read the real-world REDCap corpus from {CORPUS} and it is not there. "
    "Run them from a checkout with ../shared/corpus beside it, or set SGBM_CORPUS to its folder."
)
