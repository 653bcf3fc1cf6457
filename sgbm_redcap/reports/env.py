"""The one Jinja environment every report renders through.

Autoescape is on for every template, undefined variables are errors (``StrictUndefined``),
and templates live in the repository's ``templates/`` folder. Text typed at a site can
therefore never become markup; the only markup that reaches a page unescaped is what this
package builds itself (inline SVG figures, wrapped in :class:`markupsafe.Markup`).
"""

from __future__ import annotations

import os
import re
from dataclasses import is_dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from sgbm_redcap.errors import ConfigError

#: Default templates folder: ``<repo>/templates`` (the package is installed editable).
DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


def templates_dir() -> Path:
    """The templates folder; ``SGBM_REDCAP_TEMPLATES`` overrides the repository default."""
    override = os.environ.get("SGBM_REDCAP_TEMPLATES")
    path = Path(override) if override else DEFAULT_TEMPLATES_DIR
    if not (path / "base.html.j2").is_file():
        raise ConfigError(
            f"Report templates not found in {path}. Run from a clone of sgbm-redcap or set "
            "SGBM_REDCAP_TEMPLATES to the folder holding base.html.j2.",
            setting="SGBM_REDCAP_TEMPLATES",
            source="environment" if override else "default",
        )
    return path


@lru_cache(maxsize=4)
def _environment(path: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(path),
        autoescape=True,  # every template, whatever its extension (.html.j2 included)
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["css_string"] = css_string
    env.globals["block_kind"] = lambda block: type(block).__name__
    env.globals["study"] = _study  # the study's name and NCT id for the page footer
    return env


def _study() -> Any:
    from sgbm_redcap.dictionary.project import study_project

    return study_project()


def css_string(text: object) -> Markup:
    """Text safe inside a double-quoted CSS string in a ``<style>`` element (running heads):
    quotes, backslashes, angle brackets, ampersands and line breaks are dropped."""
    return Markup(re.sub(r'["\\<>&\r\n]', "", str(text)))  # noqa: S704


def environment() -> Environment:
    """The shared environment (cached per templates folder)."""
    return _environment(str(templates_dir()))


def render(template_name: str, context: Any) -> str:
    """Render ``template_name`` with a context dataclass (its fields become variables)."""
    if is_dataclass(context) and not isinstance(context, type):
        variables = {f: getattr(context, f) for f in context.__dataclass_fields__}
    elif isinstance(context, dict):
        variables = dict(context)
    else:
        raise TypeError(f"context must be a dataclass instance or a dict, not {type(context)}")
    return environment().get_template(template_name).render(**variables)


__all__ = ["DEFAULT_TEMPLATES_DIR", "environment", "render", "templates_dir"]
