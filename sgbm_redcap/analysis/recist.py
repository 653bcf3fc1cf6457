"""RECIST 1.1 time-point response of the extracranial compartment (DOMAIN §1.7).

Same engine as :mod:`sgbm_redcap.analysis.rano`, with RECIST's own thresholds: PD when the
SLD is ≥ 20 % above the nadir **and** ≥ 5 mm above it in absolute terms (the sum, not one
lesion), or unequivocal non-target progression, or a new lesion; PR ≥ 30 % below baseline;
CR all targets gone and no non-target disease. No steroid or clinical component. The CRF
does not say which targets are lymph nodes, so the node rule (CR with nodes < 10 mm short
axis) cannot be applied: a node target must be entered as 0 mm to count as gone.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sgbm_redcap.analysis.inputs import prepare
from sgbm_redcap.analysis.rano import _sg_start, derive_timepoints


def recist_timepoints(tables: Any, sg_start: pd.Series | None = None) -> pd.DataFrame:
    """Derived RECIST 1.1 time-point responses of every post-baseline extracranial assessment;
    same columns as :func:`sgbm_redcap.analysis.rano.rano_timepoints`."""
    study = prepare(tables)
    return derive_timepoints(study["extracranial_assessment"], "ea", "RECIST1.1",
                             _sg_start(study, sg_start))
