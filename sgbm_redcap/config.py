"""Settings: declared once, read from a TOML file and the environment.

Load order (later wins): defaults < TOML file (``sgbm_redcap.toml``) < ``SGBM_REDCAP_<NAME>``
environment variables < keyword overrides (the CLI's options).

The REDCap API token is **not** a setting: it is read only from the environment variable named
by ``token_env`` (default ``SGBM_REDCAP_TOKEN``) or, failing that, from the system keyring
(service ``keyring_service``, user = the REDCap URL). It is never read from a file in the
repository, never printed and never logged; ``repr(settings)`` shows only whether one is set.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sgbm_redcap.errors import ConfigError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    tomllib = None  # type: ignore[assignment]

DEFAULT_CONFIG_FILE = "sgbm_redcap.toml"
ENV_PREFIX = "SGBM_REDCAP_"
DEFAULT_TOKEN_ENV = "SGBM_REDCAP_TOKEN"
#: REDCap project tokens are 32 upper-case hex characters; the server itself only checks
#: letters and digits, so that is what we check too (REDCAP_API §4.1).
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9]{32}$")
#: Keys that must never appear in a settings file: a token in a file ends up in git.
_FORBIDDEN_KEYS = {"token", "api_token", "redcap_token", "api_key"}

NO_TOKEN_HELP = (
    "No REDCap API token found. Set the environment variable {env} (e.g. "
    "`export {env}=...` in your shell, or a .env file outside the repository), or store it "
    "in the system keyring: `keyring set {service} <redcap url>`. Never put the token in a "
    "file inside the repository or on the command line."
)
BAD_TOKEN_FORMAT_HELP = (
    "The REDCap API token in {where} is not a REDCap project token (expected 32 letters "
    "or digits). Copy it again from REDCap's 'API' page of the project (the token itself "
    "is not shown here)."
)


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class Settings:
    """Everything the toolkit can be configured with. Each field's ``help`` is documented in
    docs/source.md (a test keeps the two in step)."""

    redcap_url: str | None = field(
        default=None,
        metadata=_help("REDCap API URL, ending in /api/. None: commands need --records or "
                       "--sandbox (the embedded sandbox with the synthetic cohort)."),
    )
    token_env: str = field(
        default=DEFAULT_TOKEN_ENV,
        metadata=_help("Name of the environment variable holding the API token."),
    )
    keyring_service: str = field(
        default="sgbm-redcap",
        metadata=_help("Keyring service to look the token up in when the variable is unset."),
    )
    timeout_s: float = field(
        default=30.0, metadata=_help("Seconds to wait for REDCap to connect and to answer.")
    )
    batch_size: int = field(
        default=500, metadata=_help("Records per export_records call in a pull.")
    )
    retries: int = field(
        default=5,
        metadata=_help("Retries on HTTP 5xx, timeouts and dropped connections, per call."),
    )
    backoff_s: float = field(
        default=0.5,
        metadata=_help("Retry backoff: the n-th retry of a call waits backoff_s × 2^(n-1) s "
                       "(the first retry is immediate)."),
    )
    verify_tls: bool = field(
        default=True, metadata=_help("Verify REDCap's TLS certificate (keep it on).")
    )
    cache_dir: Path = field(
        default=Path(".sgbm_cache"),
        metadata=_help("Where pulls are cached (Arrow IPC) for incremental sweeps."),
    )
    metadata_check_every: int = field(
        default=10,
        metadata=_help("A sweep exports the metadata only when the project log shows a design "
                       "change, and in any case every this many sweeps (1 = every sweep)."),
    )
    dictionary_path: Path = field(
        default=Path("redcap_project/data_dictionary.csv"),
        metadata=_help("The study's versioned data dictionary."),
    )
    report_dir: Path = field(default=Path("out"), metadata=_help("Where reports are written."))
    monitoring: Mapping[str, Any] = field(
        default_factory=dict,
        metadata=_help("Tolerance limits of the monitoring indicators, a TOML table per "
                       "indicator ([sgbm_redcap.monitoring.<id>] amber/red/min_n); the "
                       "defaults and their reasons are in docs/monitoring.md."),
    )

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError("batch_size must be at least 1", setting="batch_size")
        if self.timeout_s <= 0:
            raise ConfigError("timeout_s must be positive", setting="timeout_s")
        if self.retries < 0:
            raise ConfigError("retries must be 0 or more", setting="retries")
        if self.metadata_check_every < 1:
            raise ConfigError("metadata_check_every must be at least 1",
                              setting="metadata_check_every")

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        state = "set" if self.has_token() else "not set"
        return f"Settings({shown}, token=<{state}, hidden>)"

    __str__ = __repr__

    def has_token(self) -> bool:
        """Whether a token is available, without exposing it."""
        try:
            self.token()
        except ConfigError:
            return False
        return True

    def token(self) -> str:
        """The API token, from the environment or the keyring; ConfigError if absent or not
        shaped like a REDCap token. The value is never part of any message."""
        value = os.environ.get(self.token_env, "").strip()
        where = f"environment variable {self.token_env}"
        if not value:
            value = _token_from_keyring(self.keyring_service, self.redcap_url or "") or ""
            where = f"keyring service {self.keyring_service!r}"
        if not value:
            raise ConfigError(
                NO_TOKEN_HELP.format(env=self.token_env, service=self.keyring_service),
                setting=self.token_env,
                source="environment/keyring",
            )
        if not TOKEN_PATTERN.match(value):
            raise ConfigError(
                BAD_TOKEN_FORMAT_HELP.format(where=where), setting=self.token_env, source=where
            )
        return value

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given (non-None) values replaced, coerced like the TOML values."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(self, **_coerce_all(given, source="command line"))


def _token_from_keyring(service: str, username: str) -> str | None:
    try:
        import keyring  # optional extra: pip install 'sgbm-redcap[keyring]'
    except ImportError:
        return None
    try:
        return keyring.get_password(service, username or "default")
    except Exception:  # noqa: BLE001 - a broken keyring backend must not hide the env hint
        return None


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if "Mapping" in str(kind):
            if not isinstance(value, Mapping):
                raise ValueError(f"not a table: {value!r}")
            return dict(value)
        if "Path" in str(kind):
            return Path(value)
        if "bool" in str(kind):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(f"not a yes/no value: {value!r}")
            return text in {"1", "true", "yes", "on"}
        if "float" in str(kind):
            return float(value)
        if "int" in str(kind):
            return int(value)
        return None if value in ("", None) and "None" in str(kind) else str(value)
    except (TypeError, ValueError):
        kind_text = str(kind)
        expected = ("a table" if "Mapping" in kind_text else "a yes/no value" if "bool" in kind_text else "a number" if "float" in
                    kind_text else "a whole number" if "int" in kind_text else "text")
        raise ConfigError(f"Setting {name!r} from {source} is {value!r}, not {expected}: "
                          f"correct it there", setting=name, source=source) from None


def _coerce_all(values: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    known = {f.name for f in fields(Settings)}
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name.lower() in _FORBIDDEN_KEYS:
            raise ConfigError(
                f"{source} contains {name!r}: the API token must never be stored in a file or "
                f"passed on the command line. Put it in the environment variable "
                f"{DEFAULT_TOKEN_ENV} or the keyring instead, and remove it from {source}.",
                setting=name,
                source=source,
            )
        if name not in known:
            raise ConfigError(
                f"Unknown setting {name!r} in {source}; known settings: {', '.join(sorted(known))}",
                setting=name,
                source=source,
            )
        out[name] = _coerce(name, value, source)
    return out


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build Settings from defaults, the TOML file, ``SGBM_REDCAP_*`` variables and overrides.

    ``config_file`` None means ``./sgbm_redcap.toml`` if it exists. A TOML file may hold the
    settings at top level or under a ``[sgbm_redcap]`` table.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = Path(config_file) if config_file is not None else Path(DEFAULT_CONFIG_FILE)
    if config_file is not None and not path.is_file():
        raise ConfigError(f"Settings file {path} does not exist", source=str(path))
    if path.is_file():
        values.update(_coerce_all(_read_toml(path), source=str(path)))
    for f in fields(Settings):
        var = ENV_PREFIX + f.name.upper()
        if var in env and var != DEFAULT_TOKEN_ENV:
            values.update(_coerce_all({f.name: env[var]}, source=f"environment variable {var}"))
    values.update(_coerce_all({k: v for k, v in overrides.items() if v is not None},
                              source="command line"))
    return Settings(**values)


def _read_toml(path: Path) -> dict[str, Any]:
    if tomllib is None:  # pragma: no cover
        raise ConfigError("Reading TOML settings needs Python 3.11+", source=str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read settings file {path}: {exc}", source=str(path)) from exc
    table = data.get("sgbm_redcap", data)
    if not isinstance(table, dict):
        raise ConfigError(f"[sgbm_redcap] in {path} must be a table", source=str(path))
    return table
