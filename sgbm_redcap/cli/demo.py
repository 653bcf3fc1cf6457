"""``sgbm-redcap demo``: the whole toolkit end to end on the embedded sandbox."""

from __future__ import annotations

from pathlib import Path

import click

from sgbm_redcap.errors import SgbmRedcapError


@click.command(name="demo")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("out"), show_default=True, help="Where the reports are written.")
@click.option("--patients", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Size of the synthetic cohort.")
@click.option("--seed", type=int, default=None, help="Cohort seed (default: the study's).")
@click.option("--no-pdf", is_flag=True, help="Write HTML only (faster).")
def command(out_dir: Path, patients: int, seed: int | None, no_pdf: bool) -> None:
    """Run the demo: sandbox REDCap on 127.0.0.1, study project, synthetic cohort, two query
    sweeps with simulated site answers between them, then the monthly report, data-quality
    report, per-site query listings and codebook in OUT. Stops the sandbox at the end."""
    from sgbm_redcap.demo import run_demo

    try:
        result = run_demo(out_dir, n=patients, seed=seed, pdf=not no_pdf,
                          step=lambda message: click.echo(f"· {message}"))
    except SgbmRedcapError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None
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
