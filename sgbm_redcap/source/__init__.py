"""Where the study's records come from: REDCap (``RedcapSource``) or an export file
(``FileSource``); both give the same typed tidy tables (``StudyTables``, CONTRACTS §4)."""

from sgbm_redcap.source.casting import column_kind
from sgbm_redcap.source.client import RedcapClient, Traffic
from sgbm_redcap.source.files import FileSource
from sgbm_redcap.source.remote import Pull, RedcapSource
from sgbm_redcap.source.tables import StudyTables, build_tables

__all__ = [
    "FileSource",
    "Pull",
    "RedcapClient",
    "RedcapSource",
    "StudyTables",
    "Traffic",
    "build_tables",
    "column_kind",
]
