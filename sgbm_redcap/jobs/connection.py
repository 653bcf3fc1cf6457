"""Where a job reads and writes: the configured REDCap, an offline export, or — only when
asked for — the embedded sandbox holding the synthetic cohort."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sgbm_redcap.config import Settings
from sgbm_redcap.dictionary.missing import NO_CODES, MissingCodes
from sgbm_redcap.dictionary.model import Dictionary
from sgbm_redcap.errors import ConfigError
from sgbm_redcap.queries.backends import QueryBackend
from sgbm_redcap.source import FileSource, RedcapSource

log = logging.getLogger(__name__)

NO_REDCAP_HELP = (
    "No REDCap URL configured: set redcap_url in sgbm_redcap.toml (or SGBM_REDCAP_REDCAP_URL, "
    "or pass --url), or pass --sandbox to run against the embedded sandbox with the synthetic "
    "cohort."
)
SANDBOX_BANNER = ("Using the embedded sandbox REDCap with the SYNTHETIC cohort (--sandbox): "
                  "no real study data are read or written.")


@dataclass
class Connection:
    """Where a job reads and writes: a REDCap URL with its token, and the source."""

    url: str
    token: str = field(repr=False)
    source: RedcapSource | FileSource = field(repr=False)
    embedded: bool = False
    #: the data cut-off the data were made for (the synthetic cohort's extract date), if any
    cutoff: date | None = None

    @property
    def description(self) -> str:
        """Where the data come from, as a report's cover says it."""
        if isinstance(self.source, FileSource):
            return str(self.source.records_path)
        if self.embedded:
            return f"sandbox REDCap at {self.url} (synthetic cohort)"
        return self.url


def _project_codes(dictionary: Dictionary | str | Path) -> MissingCodes:
    """The missing data codes of the project a dictionary file belongs to (its folder's
    ``project.toml``): an export file does not carry them. None for a loaded Dictionary or
    a dictionary without a project.toml beside it."""
    if isinstance(dictionary, Dictionary) or not (Path(dictionary).parent
                                                  / "project.toml").is_file():
        return NO_CODES
    from sgbm_redcap.dictionary.project import load_project

    return load_project(Path(dictionary).parent).missing_codes


@contextmanager
def connect(settings: Settings, *, records_file: str | Path | None = None,
            sandbox: bool = False, sandbox_dir: str | Path | None = None, n: int = 100,
            progress: bool = False, notice: Callable[[str], None] | None = None,
            repeating_forms: list[str] | None = None,
            dictionary: Dictionary | str | Path | None = None) -> Iterator[Connection]:
    """The configured REDCap (``settings.redcap_url`` + token from the environment), an
    offline export (``records_file``, read-only), or with ``sandbox`` the embedded sandbox
    seeded with the synthetic cohort (``notice`` is told so first). With none of them:
    ``ConfigError`` naming how to configure the URL."""
    if records_file is not None:
        kwargs = {"repeating_forms": repeating_forms} if repeating_forms is not None else {}
        dict_source = dictionary or settings.dictionary_path
        yield Connection("", "", FileSource(records_file, dict_source,
                                            missing_codes=_project_codes(dict_source),
                                            **kwargs))
        return
    if settings.redcap_url:
        yield Connection(settings.redcap_url, settings.token(),
                         RedcapSource(settings=settings, progress=progress))
        return
    if not sandbox:
        raise ConfigError(NO_REDCAP_HELP, setting="redcap_url")
    (notice or log.warning)(SANDBOX_BANNER)
    from sgbm_redcap.jobs.synthetic import DEFAULT_EXTRACT_DATE

    with tempfile.TemporaryDirectory(prefix="sgbm-sandbox-") as tmp:
        with embedded_sandbox(sandbox_dir or tmp, n=n) as (url, token):
            yield Connection(url, token, RedcapSource(url, token, settings=settings,
                                                      cache_dir=False, progress=False),
                             embedded=True, cutoff=DEFAULT_EXTRACT_DATE)


@contextmanager
def embedded_sandbox(data_dir: str | Path, *, n: int = 100, seed: int | None = None,
                     problem_rate: float = 0.1) -> Iterator[tuple[str, str]]:
    """A sandbox on 127.0.0.1 holding the study project and a synthetic cohort.
    Yields ``(url, token)``."""
    from sgbm_redcap.jobs.synthetic import seed_study
    from sgbm_redcap.sandbox import Sandbox, serve_in_thread

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    sb = Sandbox(data_dir)
    with serve_in_thread(sb, port=0) as url:
        kwargs: dict[str, object] = {"n": n, "problem_rate": problem_rate, "api_url": url}
        if seed is not None:
            kwargs["seed"] = seed
        seeded = seed_study(sb, **kwargs)  # type: ignore[arg-type]
        yield url, seeded.token


def make_backend(kind: str, url: str, token: str, *, timeout_s: float = 60.0,
                 retries: int = 6, backoff_s: float = 0.2, pid: str | int | None = None,
                 today: date | None = None) -> QueryBackend:
    """Where the data queries live: ``records`` (the ``data_queries`` instrument, default)
    or ``data_quality_api`` (REDCap's Data Resolution Workflow through that module)."""
    from sgbm_redcap.queries import RecordsBackend, RedcapHttp
    from sgbm_redcap.queries.backends import DataQualityApiBackend

    http = RedcapHttp(url, token, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s)
    if kind == "records":
        return RecordsBackend(http)
    if kind in ("data_quality_api", "drw"):
        return DataQualityApiBackend(http, pid=pid or 1, today=str(today or date.today()))
    raise ConfigError(f"unknown query backend {kind!r}: use 'records' or 'data_quality_api'",
                      setting="backend")


def settings_backend(conn: Connection, settings: Settings, kind: str = "records", *,
                     pid: str | int | None = None) -> QueryBackend:
    """:func:`make_backend` for ``conn`` with the settings' timeout and retries."""
    return make_backend(kind, conn.url, conn.token, timeout_s=settings.timeout_s,
                        retries=settings.retries, backoff_s=settings.backoff_s, pid=pid)


def study_dictionary(path: str | Path | None = None) -> Dictionary | None:
    """The study's versioned dictionary (``redcap_project/data_dictionary.csv``), or None."""
    from sgbm_redcap.dictionary import load_dictionary
    from sgbm_redcap.dictionary.project import default_project_dir

    p = Path(path) if path else default_project_dir() / "data_dictionary.csv"
    return load_dictionary(p) if p.exists() else None
