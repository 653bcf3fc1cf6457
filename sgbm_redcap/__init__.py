"""sgbm-redcap: REDCap automation toolkit for the SG-BM-RWS study (NCT07251868).

The library comes first; ``sgbm_redcap.cli`` is a thin layer over it.
"""

__version__ = "0.1.0"
