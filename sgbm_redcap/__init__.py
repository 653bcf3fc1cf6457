"""sgbm-redcap: REDCap automation toolkit for the SG-BM-RWS study (registered on
ClinicalTrials.gov; the id, title and short name are in ``redcap_project/project.toml``).

The library comes first; ``sgbm_redcap.cli`` is a thin layer over it.
"""

__version__ = "0.1.0"
