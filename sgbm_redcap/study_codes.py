"""The study's named codes and conventions: the one place code spells a REDCap choice code.

Analyses, checks and reports compare **codes** (the raw strings REDCap stores), never labels.
Where code must name a particular code (vital status "Dead", an EOT reason, a RANO-BM
category…) it names it here, once, in the way REDCapR's ``constant()`` names REDCap's own
codes (``form_complete`` = 2). The labels shown to people always come from the data
dictionary (``Field.choices``); the label kept beside each code here only says which answer
the code is meant to be, and ``tests/test_study_codes.py`` checks every code against
``redcap_project/data_dictionary.csv`` (the code exists, its label is this one), so a
recoded dictionary cannot silently change what the code computes.

This module imports nothing from the package: every layer may use it.
"""

from __future__ import annotations

#: The study's month: an average Gregorian month, 365.25 / 12 = 30.4375 days. Every time in
#: months (analysis endpoints, report tables, figures) is ``days / DAYS_PER_MONTH``.
DAYS_PER_MONTH = 30.4375
