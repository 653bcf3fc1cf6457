"""The ``Study`` handle: the project from ``redcap_project/`` (dictionary, version, DAGs,
repeating forms), the settings, and where the records come from. Every job takes one."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgbm_redcap.config import Settings, load_settings
from sgbm_redcap.dictionary.model import Dictionary
from sgbm_redcap.dictionary.project import StudyProject, default_project_dir, load_project
from sgbm_redcap.jobs.connection import Connection, connect

log = logging.getLogger(__name__)


def _log_notice(message: str) -> None:
    log.warning("%s", message)


@dataclass
class Study:
    """One study as every job sees it.

    ``records_file`` reads an offline export instead of REDCap; ``sandbox`` allows the
    embedded sandbox with the synthetic cohort when no REDCap URL is configured;
    ``notice`` is told one-line facts the user must see (the synthetic-data banner)."""

    project: StudyProject
    settings: Settings = field(default_factory=Settings)
    records_file: Path | None = None
    sandbox: bool = False
    notice: Callable[[str], None] = field(default=_log_notice, repr=False)

    @property
    def dictionary(self) -> Dictionary:
        return self.project.dictionary

    @property
    def version(self) -> str:
        return self.project.version

    @property
    def dags(self) -> list[tuple[str, str]]:
        return self.project.dags

    @property
    def repeating_forms(self) -> list[str]:
        return self.project.repeating_forms

    def connect(self, *, n: int = 100, progress: bool = False) -> AbstractContextManager[
            Connection]:
        """The connection factory: the configured REDCap, the export file, or (``sandbox``
        only) the embedded sandbox."""
        return connect(self.settings, records_file=self.records_file, sandbox=self.sandbox,
                       n=n, progress=progress, notice=self.notice,
                       repeating_forms=self.repeating_forms, dictionary=self.dictionary)


def load_study(config_file: str | os.PathLike[str] | None = None, *,
               project_dir: str | os.PathLike[str] | None = None,
               records_file: str | os.PathLike[str] | None = None, sandbox: bool = False,
               notice: Callable[[str], None] | None = None, **overrides: Any) -> Study:
    """Settings (``config_file``, environment, ``overrides``) and the study project.

    The project is ``project_dir`` if given, else the folder of the settings'
    ``dictionary_path`` when it holds a ``project.toml``, else this repository's
    ``redcap_project/``; a ``dictionary_path`` outside a project folder replaces the
    project's dictionary."""
    settings = load_settings(config_file, **overrides)
    project = load_project(project_dir or _project_dir(settings))
    custom = Path(settings.dictionary_path)
    if project_dir is None and custom.is_file() and not (custom.parent / "project.toml").is_file():
        from sgbm_redcap.dictionary import load_dictionary

        project = dataclasses.replace(project, dictionary=load_dictionary(custom))
    return Study(project, settings, Path(records_file) if records_file else None, sandbox,
                 notice or _log_notice)


def _project_dir(settings: Settings) -> Path:
    folder = Path(settings.dictionary_path).parent
    return folder if (folder / "project.toml").is_file() else default_project_dir()


