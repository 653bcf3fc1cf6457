"""The one error-to-exit-code mapping of every ``sgbm-redcap`` command.

Exit codes (README): 0 ok, 1 findings or a failure, 2 a usage or configuration error.
Every command is a :class:`Command` (every group a :class:`Group`, whose subcommands are
Commands too), so that a library error becomes one line on stderr and the right code,
never a traceback."""

from __future__ import annotations

from typing import Any

import click

from sgbm_redcap.errors import (
    ConfigError,
    DictionaryError,
    OutputError,
    RedcapAuthError,
    SgbmRedcapError,
)

OK, FINDINGS_OR_FAILURE, USAGE_OR_CONFIG = 0, 1, 2

#: the library's errors that mean "fix the command line or the configuration"
USAGE_ERRORS: tuple[type[SgbmRedcapError], ...] = (ConfigError, RedcapAuthError,
                                                   DictionaryError, OutputError)


def exit_code(exc: BaseException) -> int:
    """The exit code of a library error: 2 for usage/configuration (a bad setting or
    option, a rejected token, an unreadable project, an output that cannot be written),
    else ``exc.exit_code`` when it has one, else 1."""
    if isinstance(exc, USAGE_ERRORS):
        return USAGE_OR_CONFIG
    return int(getattr(exc, "exit_code", FINDINGS_OR_FAILURE))


def fail(exc: BaseException) -> None:
    """Print ``exc`` as one line on stderr and exit with its code."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(exit_code(exc))


class Command(click.Command):
    """A click command whose library errors become one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SgbmRedcapError as exc:
            fail(exc)
        except OSError as exc:  # an output the door checks did not foresee
            where = f" {exc.filename}" if exc.filename else ""
            fail(SgbmRedcapError(f"cannot read or write{where}: {exc.strerror or exc}"))


class Group(click.Group):
    """A click group whose commands (and subgroups) are :class:`Command` / ``Group``."""

    command_class = Command
    group_class = type  # subgroups are Groups too

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SgbmRedcapError as exc:
            fail(exc)
