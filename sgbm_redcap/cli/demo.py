"""``sgbm-redcap demo``: the whole toolkit end to end on the embedded sandbox."""

from __future__ import annotations

from pathlib import Path

import click

from sgbm_redcap import jobs
from sgbm_redcap.cli.exits import Command
from sgbm_redcap.cli.options import no_pdf_option, out_dir_option


@click.command(name="demo", cls=Command)
@out_dir_option(help="Where the reports are written.")
@click.option("--patients", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Size of the synthetic cohort.")
@click.option("--seed", type=int, default=None, help="Cohort seed (default: the study's).")
@no_pdf_option
def command(out_dir: Path, patients: int, seed: int | None, no_pdf: bool) -> None:
    """Run the demo: sandbox REDCap on 127.0.0.1, study project, synthetic cohort, two query
    sweeps with simulated site answers between them, then the monthly report, data-quality
    report, per-site query listings and codebook in OUT. Stops the sandbox at the end."""
    result = jobs.demo(out_dir, n=patients, seed=seed, pdf=not no_pdf,
                       step=lambda message: click.echo(f"· {message}"))
    click.echo("")
    click.echo(f"Done. Everything is in {result.out_dir.resolve()}:")
    for what, paths in result.files.items():
        shown = [p for p in paths if p.exists()]
        if not shown:
            continue
        click.echo(f"  {what}:")
        for p in shown[:4]:
            click.echo(f"    {p}")
        if len(shown) > 4:
            click.echo(f"    … and {len(shown) - 4} more in {shown[0].parent}")
