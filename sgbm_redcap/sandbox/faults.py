"""Fault injection: HTTP 500s, slow answers, dropped connections and REDCap error bodies.

Configured per sandbox (stored in its SQLite file, so a server started from the CLI and a test
share one plan) and driven by a seeded random generator, so a test sees the same sequence of
faults on every run.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any


class DroppedConnection(Exception):
    """The sandbox decided to drop this request's connection without answering."""


@dataclass
class FaultPlan:
    """What to inject. Rates are probabilities per request in [0, 1].

    ``redcap_errors`` maps ``"content"`` or ``"content:action"`` to ``[status, message]``: that
    call always answers with REDCap's error envelope (e.g. ``{"record:import": [400, "..."]}``).
    """

    error_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    drop_rate: float = 0.0
    redcap_errors: dict[str, list[Any]] = field(default_factory=dict)
    seed: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FaultPlan:
        return cls(**json.loads(text)) if text else cls()


class Faults:
    """The live fault state of a sandbox: the plan plus its seeded generator."""

    def __init__(self, plan: FaultPlan | None = None):
        self._lock = threading.Lock()
        self.plan = plan or FaultPlan()
        self._rng = random.Random(self.plan.seed)

    def configure(self, plan: FaultPlan) -> None:
        with self._lock:
            self.plan = plan
            self._rng = random.Random(plan.seed)

    @property
    def active(self) -> bool:
        p = self.plan
        return bool(p.error_rate or p.slow_rate or p.drop_rate or p.redcap_errors)

    def draw(self) -> tuple[bool, float, bool]:
        """(answer 500, seconds to sleep, drop) for the next request; one draw per kind."""
        p = self.plan
        if not (p.error_rate or p.slow_rate or p.drop_rate):
            return False, 0.0, False
        with self._lock:
            drop = self._rng.random() < p.drop_rate
            fail = self._rng.random() < p.error_rate
            slow = self._rng.random() < p.slow_rate
        return fail, (p.slow_seconds if slow else 0.0), drop

    def redcap_error_for(self, content: str, action: str) -> tuple[int, str] | None:
        errors = self.plan.redcap_errors
        if not errors:
            return None
        hit = errors.get(f"{content}:{action}") or errors.get(content)
        if hit is None:
            return None
        return int(hit[0]), str(hit[1])
