"""``sgbm-redcap``: a thin click layer over the library.

Each command group lives in its own module here (``dictionary.py``, ``sandbox.py``, ...) and
exposes a click command or group named ``command``; this module only assembles them.
Commands call the jobs layer (:mod:`sgbm_redcap.jobs`) and nothing else; shared options
live in ``options.py`` and the one error-to-exit-code mapping in ``exits.py``.
Exit codes: 0 ok, 1 findings or failures, 2 usage or configuration error.
"""

from __future__ import annotations

import importlib
import logging

import click

from sgbm_redcap.cli.exits import Group

#: (module, attribute) of every command, in the order ``--help`` lists them.
_COMMANDS = [
    ("demo", "command"),
    ("sandbox", "command"),
    ("dictionary", "command"),
    ("pull", "command"),
    ("checks", "command"),
    ("eligibility", "command"),
    ("sweep", "command"),
    ("cut", "command"),
    ("report", "command"),
    ("monitor", "command"),
    ("schedule", "command"),
]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="sgbm-redcap")
def main(verbose: int) -> None:
    """REDCap automation for the SG-BM-RWS study: dictionary, pull, checks, queries, reports."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register() -> None:
    for module_name, attr in _COMMANDS:
        try:
            module = importlib.import_module(f"sgbm_redcap.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"sgbm_redcap.cli.{module_name}":
                continue  # command not built yet
            raise
        main.add_command(getattr(module, attr))


_register()
