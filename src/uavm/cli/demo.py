"""``uavm demo``: the offline end-to-end run on a generated audio-visual dataset."""

from __future__ import annotations

import click


@click.command(context_settings={"show_default": True})
@click.option(
    "--out",
    "out_dir",
    default="demo_out",
    type=click.Path(file_okay=False),
    help="Output folder (clips, features, runs, analyses, report).",
)
@click.option("--quick", is_flag=True, help="A reduced demo (half the clips, fewer epochs, no t-SNE): a few minutes.")
@click.option("--classes", "n_classes", type=int, default=None, help="Number of classes (even, 4-8).")
@click.option("--clips-per-class", type=int, default=None)
@click.option("--epochs", type=int, default=None)
@click.option("--workers", type=int, default=None, help="Decoding processes during extraction.")
@click.option("--seed", type=int, default=None)
@click.option("--no-analyses", is_flag=True, help="Skip the probe / retrieval / attention / t-SNE analyses.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of text.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(
    out_dir: str,
    quick: bool,
    n_classes: int | None,
    clips_per_class: int | None,
    epochs: int | None,
    workers: int | None,
    seed: int | None,
    no_analyses: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Generate a small audio-visual dataset, extract, train three models, evaluate, analyse, report."""
    from ..demo.pipeline import DemoOptions, main_json, quick_options, run_demo

    options = quick_options() if quick else DemoOptions()
    for name, value in (
        ("n_classes", n_classes),
        ("clips_per_class", clips_per_class),
        ("epochs", epochs),
        ("workers", workers),
        ("seed", seed),
    ):
        if value is not None:
            setattr(options, name, value)
    options.analyses = options.analyses and not no_analyses
    options.progress = not quiet
    result = run_demo(out_dir, options)
    if as_json:
        click.echo(main_json(result))
        return
    click.echo("\ntest accuracy (%) at the best validation epoch:")
    click.echo(f"  {'model':<16}{'audio':>8}{'visual':>8}{'fused':>8}")
    for arch, row in result.test.items():
        click.echo(f"  {arch:<16}{row['acc_a']:8.1f}{row['acc_v']:8.1f}{row['acc_av']:8.1f}")
    click.echo(f"time: {', '.join(f'{k} {v:.0f} s' for k, v in result.seconds.items())}")
    click.echo(f"report: {result.report_html}")
    click.echo(f"        {result.report_md}")
