"""Row keys and what a row shows: the shape every record call shares.

A stored row is keyed ``(record, event, repeat instrument, instance)``; which forms' columns
it shows follows from the project's events and repeating set-up alone.
"""

from __future__ import annotations

from .meta import ProjectMeta

RowKey = tuple[str, str, str, int]  # record, event, repeat instrument, instance


def applicable_forms(meta: ProjectMeta, key: RowKey) -> frozenset[str]:
    """The forms whose columns a row shows: a repeating row only its own form (or, for a
    repeating event, the event's forms); a base row the non-repeating forms of its event."""
    k = (key[1], key[2], bool(key[3]))
    cache = meta.cache.setdefault("applicable_forms", {})
    got = cache.get(k)
    if got is None:
        _, ev, instr, _inst = key
        if instr:
            got = frozenset((instr,))
        else:
            on_event = meta.forms_on_event(ev)
            if meta.repeating_event(ev):
                got = frozenset(on_event)
            else:
                got = frozenset(f for f in on_event if not meta.repeating_form(f, ev))
        cache[k] = got
    return got
