"""``uavm analyze``: the paper's analyses (probe, t-SNE, retrieval, attention, Figure 2)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

MODEL_ANALYSES = ("probe", "tsne", "retrieval", "attention")


@click.group()
def analyze() -> None:
    """Analyse a trained model (probe, tsne, retrieval, attention, all) or a sweep of runs."""


def _model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.argument("checkpoint"),
        click.option(
            "--data",
            required=True,
            type=click.Path(exists=True),
            help="Feature store folder or reference datafile (.json).",
        ),
        click.option(
            "--out",
            required=True,
            type=click.Path(file_okay=False),
            help="Output folder (CSV/JSON numbers, PNG/PDF figures).",
        ),
        click.option(
            "--labels",
            default=None,
            help="Label vocabulary: vggsound, audioset or a label CSV (default: from the class count).",
        ),
        click.option(
            "--arch",
            type=click.Choice(["unified", "independent", "cross_attention"]),
            default=None,
            help="Architecture when the checkpoint cannot tell.",
        ),
        click.option("--num-heads", type=int, default=None, help="Attention heads when the checkpoint cannot tell."),
        click.option("--batch-size", type=int, default=64, show_default=True),
        click.option("--workers", type=int, default=0, show_default=True, help="Data-loading worker processes."),
        click.option("--device", default=None, help="torch device (default: cuda when present, else cpu)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of probe split, t-SNE and subsets."),
        click.option(
            "--no-feat-norm",
            is_flag=True,
            help="Feed features without per-step L2 normalisation (the reference analysis scripts did).",
        ),
        click.option(
            "--split",
            type=click.Choice(["random", "halves"]),
            default="random",
            show_default=True,
            help="Probe split: seeded random clips, or the reference's first/second half.",
        ),
        click.option("--probe-c", type=float, default=1.0, show_default=True, help="Inverse L1 strength of the probe."),
        click.option("--tsne-clips", type=int, default=1000, show_default=True, help="Clips in the t-SNE (0 = all)."),
        click.option("--perplexity", type=float, default=30.0, show_default=True),
        click.option(
            "--per-class",
            type=int,
            default=5,
            show_default=True,
            help="Retrieval subset: clips per class (0 = all clips).",
        ),
        click.option(
            "--ties",
            type=click.Choice(["pessimistic", "optimistic"]),
            default="pessimistic",
            show_default=True,
            help="Rank of a hit tied with other candidates.",
        ),
        click.option(
            "--pre-norm",
            is_flag=True,
            help="Attention maps as the reference computed them (without norm1), for comparison with the paper.",
        ),
        click.option("--no-cache", is_flag=True, help="Do not keep representations on disk under OUT/representations."),
        click.option("--force", is_flag=True, help="Redo analyses already recorded as done in OUT/summary.json."),
        click.option("--quiet", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run(analyses: tuple[str, ...], checkpoint: str, data: str, out: str, **kw: Any) -> None:
    from ..extras import require

    require("analysis", "uavm analyze", "sklearn", "matplotlib")  # before any work, not after loading the data
    from ..analysis.inputs import fingerprint, open_batches, open_model
    from ..analysis.runner import AnalysisOptions, run_analyses

    model = open_model(checkpoint, arch=kw["arch"], num_heads=kw["num_heads"])
    feat_norm = not kw["no_feat_norm"]
    batches = open_batches(data, model, kw["labels"], kw["batch_size"], feat_norm, kw["workers"], checkpoint)
    options = AnalysisOptions(
        device=kw["device"],
        seed=kw["seed"],
        probe_split=kw["split"],
        probe_C=kw["probe_c"],
        tsne_clips=kw["tsne_clips"] or None,
        tsne_perplexity=kw["perplexity"],
        retrieval_per_class=kw["per_class"] or None,
        ties=kw["ties"],
        pre_norm=kw["pre_norm"],
        cache=not kw["no_cache"],
        force=kw["force"],
        progress=not kw["quiet"],
    )
    key = fingerprint(checkpoint, data, extra=f"feat_norm={feat_norm}")
    summary = run_analyses(model, batches, out, analyses, options, n_clips=len(batches.dataset), data_key=key)
    _report(summary, analyses, Path(out))
    if summary["failed"]:
        sys.exit(1)


def _report(summary: dict[str, Any], analyses: tuple[str, ...], out: Path) -> None:
    for name in analyses:
        result = summary["results"][name]
        if result["status"] != "done":
            click.echo(f"{name}: FAILED: {result['problem']}", err=True)
            continue
        headline = {"probe": "test_acc", "retrieval": "a2v_R@5", "attention": "mad"}.get(name)
        values = result.get(headline, {}) if headline else {}
        numbers = ", ".join(f"{layer}: {value:.3f}" for layer, value in values.items())
        click.echo(f"{name}: done" + (f" ({headline} by layer: {numbers})" if numbers else ""))
    click.echo(f"results in {out}")


def _model_command(name: str, analyses: tuple[str, ...], help_text: str) -> click.Command:
    @_model_options
    def command(checkpoint: str, data: str, out: str, **kw: Any) -> None:
        _run(analyses, checkpoint, data, out, **kw)

    return analyze.command(name, help=help_text)(command)


_model_command("probe", ("probe",), "Modality probe per layer of CHECKPOINT (audio vs visual, L1 logistic regression).")
_model_command("tsne", ("tsne",), "t-SNE of audio (red) and visual (blue) representations per layer of CHECKPOINT.")
_model_command("retrieval", ("retrieval",), "Cross-modal retrieval per layer of CHECKPOINT: R@1/5/10, median rank.")
_model_command(
    "attention", ("attention",), "Mean attention maps, audio/visual difference, attention received per head."
)
_model_command("all", MODEL_ANALYSES, "Every model analysis of CHECKPOINT in one resumable job.")


@analyze.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option(
    "--x",
    "x_key",
    default=None,
    help="With run folders: the swept config setting, e.g. model.s_embed_dim, model.depth_s, a_tr_prob.",
)
@click.option(
    "--series-key",
    default="model.arch",
    show_default=True,
    help="With run folders: the config setting naming each run's series.",
)
@click.option("--xlabel", default=None, help="Axis label (default: the --x setting).")
@click.option(
    "--select",
    type=click.Choice(["final", "best"]),
    default="final",
    show_default=True,
    help="Epoch taken from each run.",
)
@click.option("--metric", type=click.Choice(["acc", "mAP", "mAUC"]), default="acc", show_default=True)
def sweep(
    sources: tuple[str, ...], out: str, x_key: str | None, series_key: str, xlabel: str | None, select: str, metric: str
) -> None:
    """Figure 2: accuracy against a swept setting, mean ± std over repeats.

    SOURCES is either one manifest CSV (columns series,x,results: a results table or
    run folder per row) or training run folders (with --x naming the swept setting).
    """
    from ..extras import require

    require("analysis", "uavm analyze sweep", "matplotlib")
    from ..analysis.sweeps import plot_sweep, read_manifest, runs_from_dirs, sweep_summary
    from ..analysis.tables import write_csv
    from ..errors import ConfigError

    if len(sources) == 1 and Path(sources[0]).is_file():
        runs = read_manifest(sources[0])
    elif x_key is None:
        raise ConfigError("run folders need --x, the config setting that was swept (e.g. model.depth_s)")
    else:
        runs = runs_from_dirs(sources, x_key, series_key or None)
    rows, skipped = sweep_summary(runs, select=select, metric=metric)
    out_dir = Path(out)
    for problem in skipped:
        click.echo(f"skipped: {problem['problem']}", err=True)
    if skipped:
        write_csv(out_dir / "sweep_skipped.csv", skipped)
    if not rows:
        click.echo("error: no run could be read", err=True)
        sys.exit(1)
    write_csv(out_dir / "sweep.csv", rows)
    plot_sweep(rows, out_dir / "figure2", xlabel=xlabel or x_key or "swept value", metric=metric)
    click.echo(f"{len(rows)} points from {sum(r['n_runs'] for r in rows)} runs; results in {out_dir}")
    if skipped:
        sys.exit(1)
