"""The REDCap logic language: one parser, vectorised evaluation.

Public API (CONTRACTS §2)::

    from sgbm_redcap.logic import parse, to_text, evaluate, evaluate_rowwise, check, LogicSyntaxError
"""

from sgbm_redcap.errors import LogicError, LogicSyntaxError

from .nodes import Expression
from .parser import parse
from .printer import to_text
from .rowwise import evaluate_rowwise

# Interim: the vectorised evaluator replaces this binding in the next commit.
evaluate = evaluate_rowwise

__all__ = [
    "Expression",
    "LogicError",
    "LogicSyntaxError",
    "evaluate",
    "evaluate_rowwise",
    "parse",
    "to_text",
]
