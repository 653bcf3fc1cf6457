"""The REDCap data dictionary: load any real-world dictionary, model it, lint it like
REDCap's upload does, diff two versions, and build the study's Project XML.

Public API (docs/CONTRACTS.md §1)::

    from sgbm_redcap.dictionary import load_dictionary, Dictionary, Field
    from sgbm_redcap.dictionary.project import load_project
"""

from sgbm_redcap.dictionary.load import load_dictionary
from sgbm_redcap.dictionary.model import Dictionary, Field, parse_choices

__all__ = ["Dictionary", "Field", "load_dictionary", "parse_choices"]
