"""Which site each record belongs to, and which sites are active.

A site is its REDCap Data Access Group (unique name). A record's site is the DAG of its
first row in the flat export; a record outside every DAG belongs to the site ``""``
("No site"). A site of the project with no screened patient is *not yet active*: its
indicators are not computed and it is never flagged (docs/monitoring.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

DAG = "redcap_data_access_group"
NO_SITE = ""


@dataclass(frozen=True)
class Sites:
    """The project's sites in their order, their labels, and each record's site."""

    order: list[str]
    labels: dict[str, str]
    of_record: dict[str, str]

    def label(self, site: str) -> str:
        return self.labels.get(site, site) or "No site"

    def patients(self, site: str) -> int:
        return sum(1 for s in self.of_record.values() if s == site)

    def active(self, site: str) -> bool:
        return self.patients(site) > 0

    def map(self, records: pd.Series) -> pd.Series:
        """The site of each record id in ``records`` (``""`` for an unknown record)."""
        return records.astype(str).map(self.of_record).fillna(NO_SITE)


def record_sites(raw: pd.DataFrame, record_id: str = "record_id") -> dict[str, str]:
    """Record id → DAG unique name, from a flat raw export (first row of each record)."""
    if not len(raw) or record_id not in raw.columns:
        return {}
    first = raw.drop_duplicates(record_id)
    dags = first[DAG] if DAG in first.columns else pd.Series(NO_SITE, index=first.index)
    return dict(zip(first[record_id].astype(str), dags.fillna(NO_SITE).astype(str),
                    strict=True))


def study_sites(raw: pd.DataFrame, dags: Iterable[tuple[str, str]] = (), *,
                record_id: str = "record_id") -> Sites:
    """The sites of the project (``dags``: (unique name, label) from project.toml) and any
    other DAG the records carry, in that order."""
    labels = dict(dags)
    of_record = record_sites(raw, record_id)
    order = list(labels)
    for site in dict.fromkeys(of_record.values()):
        if site not in labels:
            order.append(site)
            labels[site] = site or "No site"
    return Sites(order, labels, of_record)
