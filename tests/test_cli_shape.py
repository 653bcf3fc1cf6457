"""The CLI's shape: modules under ``cli/`` import only the jobs layer, the settings, the
error types and click; every command maps errors to exit codes in one place."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import click
import pytest

import sgbm_redcap.cli as cli_package
from sgbm_redcap.cli import main
from sgbm_redcap.cli.exits import Command, Group, exit_code
from sgbm_redcap.errors import (
    ConfigError,
    DictionaryError,
    JobLockedError,
    OutputError,
    RedcapApiError,
    RedcapAuthError,
    RedcapConnectionError,
    SgbmRedcapError,
)
from sgbm_redcap.scheduler import SchedulerStopped

CLI_DIR = Path(cli_package.__file__).parent
#: what a CLI module may import from the package: the jobs layer, settings, errors, itself
ALLOWED = ("sgbm_redcap.jobs", "sgbm_redcap.config", "sgbm_redcap.errors", "sgbm_redcap.cli")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path``, function-local ones included."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "sgbm_redcap":
                out += [(node.lineno, f"sgbm_redcap.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, node.module))
    return out


def allowed(module: str) -> bool:
    top = module.split(".")[0]
    if top == "sgbm_redcap":
        return any(module == a or module.startswith(a + ".") for a in ALLOWED)
    return top in ("__future__", "click") or top in sys.stdlib_module_names


def test_cli_modules_import_only_jobs_settings_errors_and_click():
    files = sorted(CLI_DIR.glob("*.py"))
    assert len(files) >= 10
    wrong = [f"{p.name}:{line} imports {m}" for p in files for line, m in imported_modules(p)
             if not allowed(m)]
    assert wrong == []


def test_the_import_walk_sees_what_it_must_refuse(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from sgbm_redcap.checks import run_checks\n"
                   "def f():\n    import pandas\n    from sgbm_redcap import sweep\n")
    assert [m for _, m in imported_modules(bad) if not allowed(m)] == [
        "sgbm_redcap.checks", "pandas", "sgbm_redcap.sweep"]


def _commands(cmd: click.Command, path: str = "sgbm-redcap"):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, f"{path} {name}")


def test_every_command_maps_errors_through_the_one_mapping():
    seen = list(_commands(main))
    assert len(seen) > 15
    wrong = [path for path, cmd in seen
             if not isinstance(cmd, Group if isinstance(cmd, click.Group) else Command)]
    assert wrong == []


@pytest.mark.parametrize(("error", "code"), [
    (ConfigError("x"), 2), (RedcapAuthError("x"), 2), (DictionaryError("x"), 2),
    (OutputError("x"), 2), (RedcapApiError("x"), 1), (RedcapConnectionError("x"), 1),
    (JobLockedError("x"), 1), (SchedulerStopped("x"), 1), (SgbmRedcapError("x"), 1),
])
def test_exit_codes_are_the_readmes(error, code):
    assert exit_code(error) == code
