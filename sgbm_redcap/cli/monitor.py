"""``sgbm-redcap monitor``: the central-monitoring dashboard ``monitoring_<date>.html``
(+ PDF): key risk indicators per site with their tolerance limits, query ageing, the funnel
plots and the audit-trail review (docs/monitoring.md).

Exit codes: 0 ok (whatever the indicators show), 1 REDCap unreachable, 2 usage or
configuration error (a bad limit in the settings, a --date in the future, an output folder
that cannot be written).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from sgbm_redcap import jobs
from sgbm_redcap.cli.exits import Command
from sgbm_redcap.cli.options import (
    config_option,
    day,
    force_option,
    out_dir_option,
    sandbox_option,
    study_from,
    url_option,
)


@click.command(name="monitor", cls=Command)
@config_option
@url_option
@sandbox_option
@out_dir_option()
@click.option("--date", "ref", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Reference date of the indicators (default today; on the sandbox its "
                   "synthetic data's date).")
@click.option("--no-pdf", is_flag=True, help="Write the HTML page only.")
@force_option
def command(config_file: Path | None, url: str | None, sandbox: bool, out_dir: Path,
            ref: datetime | None, no_pdf: bool, force: bool) -> None:
    """Write the monitoring dashboard: which site needs attention, and why."""
    study = study_from(config_file, url, sandbox=sandbox)
    files = jobs.monitor(study, out_dir=out_dir, ref=day(ref), pdf=not no_pdf, force=force)
    for line in files.not_computed:
        click.echo(line, err=True)
    for path in files.paths:
        click.echo(f"wrote {path}")
    red = sorted(files.red)
    click.echo(f"{len(red)} red indicator(s)" + (": " + ", ".join(f"{s} {k}" for s, k in red)
                                                 if red else "") +
               f"; {files.seconds:.1f} s")
