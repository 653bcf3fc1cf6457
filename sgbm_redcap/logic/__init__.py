"""The REDCap logic language: one parser, vectorised evaluation.

Public API (CONTRACTS §2)::

    from sgbm_redcap.logic import parse, to_text, evaluate, evaluate_rowwise, check, LogicSyntaxError
"""

from sgbm_redcap.errors import LogicError, LogicSyntaxError

from .checker import LogicProblem, check
from .nodes import Expression
from .parser import parse
from .printer import to_text
from .rowwise import evaluate_rowwise
from .vectorised import Evaluator, evaluate

__all__ = [
    "Evaluator",
    "Expression",
    "LogicError",
    "LogicProblem",
    "LogicSyntaxError",
    "check",
    "evaluate",
    "evaluate_rowwise",
    "parse",
    "to_text",
]
