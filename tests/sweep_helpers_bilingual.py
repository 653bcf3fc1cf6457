"""An in-memory query backend and findings for the bilingual-output tests."""

from __future__ import annotations

import pandas as pd

from sgbm_redcap.checks import REGISTRY
from sgbm_redcap.checks.findings import FINDING_COLUMNS
from sgbm_redcap.dictionary.project import study_project
from sgbm_redcap.queries import apply_plan
from sgbm_redcap.queries.reconcile import EXISTING_COLUMNS, Plan


class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self.state = pd.DataFrame({c: pd.Series(dtype=object) for c in EXISTING_COLUMNS})

    def existing(self) -> pd.DataFrame:
        return self.state.copy()

    def send(self, actions):
        self.state = apply_plan(self.state, Plan(pd.DataFrame(actions)))
        return len(actions)


def finding_rows(specs: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Findings (rule, dag, field) with the message each rule renders for that field."""
    d = study_project().dictionary
    rules = {r.rule_id: r for r in REGISTRY}
    rows = []
    for i, (rule_id, dag, name) in enumerate(specs, start=1):
        f = d.field(name)
        message = rules[rule_id].message.format(label=f.label, value="")
        rows.append({"rule_id": rule_id, "severity": rules[rule_id].severity,
                     "record_id": str(i), "form": f.form, "instance": 1, "field": name,
                     "message": message, "value": "", "dag": dag})
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)
