"""``uavm train``, ``uavm eval`` and ``uavm recipe``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import yaml

from ..errors import ConfigError

OVERRIDES_HELP = "Settings as key=value (model sizes as model.key=value), applied over the recipe."


@click.command(context_settings={"show_default": True})
@click.option(
    "--recipe", type=click.Path(dir_okay=False), default=None, help="Recipe YAML (e.g. recipes/vggsound/uavm.yaml)."
)
@click.option("--out", "out_dir", default=None, help="Output folder (overrides out_dir).")
@click.option("--resume", is_flag=True, help="Continue the run in the output folder after its last finished epoch.")
@click.argument("overrides", nargs=-1)
def train(recipe: str | None, out_dir: str | None, resume: bool, overrides: tuple[str, ...]) -> None:
    """Train a model (under torchrun: DDP). OVERRIDES are key=value settings."""
    from ..train.config import config_from_recipe
    from ..train.distributed import teardown
    from ..train.trainer import train as run_training

    extra = [f"out_dir={out_dir}"] if out_dir else []
    config = config_from_recipe(recipe, list(overrides) + extra)
    try:
        _report(run_training(config, resume=resume))
    finally:
        teardown()


@click.command(name="eval", context_settings={"show_default": True})
@click.argument("checkpoint")
@click.option("--data", required=True, help="Feature store folder or reference datafile (.json).")
@click.option(
    "--labels", default=None, help="vggsound, audioset or a label CSV (default: the model's, else by class count)."
)
@click.option("--batch-size", type=click.IntRange(min=1), default=256)
@click.option(
    "--feat-norm/--no-feat-norm",
    default=None,
    help="L2-normalise features as in training (default: the run's config.yaml beside CHECKPOINT, else on).",
)
@click.option("--device", default="auto", help="auto, cpu, cuda, cuda:N.")
@click.option("--num-workers", type=click.IntRange(min=0), default=2)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Write the metrics here.")
@click.option(
    "--export-vggsounder",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the VGGSounder benchmark pickle (VGGSound models).",
)
@click.option("--top-k", type=int, default=1, help="Class names listed as predictions in the VGGSounder pickle.")
def evaluate(
    checkpoint: str,
    data: str,
    labels: str | None,
    batch_size: int,
    feat_norm: bool | None,
    device: str,
    num_workers: int,
    json_out: str | None,
    export_vggsounder: str | None,
    top_k: int,
) -> None:
    """Evaluate CHECKPOINT audio-only, visual-only and audio+visual on --data."""
    import torch

    from ..atomic import write_json_atomic
    from ..data.dataset import check_input_widths, open_dataset
    from ..data.labels import labels_for_model, load_labels
    from ..device import resolve_device, use_bf16
    from ..modality import MODALITIES, NAMES, VIEWS
    from ..models import read_model_info
    from ..models.factory import load_model
    from ..train.evaluate import evaluate as run_eval
    from ..train.evaluate import export_vggsounder as export
    from ..train.evaluate import summary

    model = load_model(checkpoint)
    n_classes = model.config.num_classes
    label_set = load_labels(labels) if labels else labels_for_model(read_model_info(checkpoint), n_classes, checkpoint)
    if len(label_set) != model.config.num_classes:
        raise ConfigError(
            f"{checkpoint}: the model has {model.config.num_classes} classes, the labels {len(label_set)}"
        )
    if feat_norm is None:
        feat_norm = _run_setting(Path(checkpoint), "feat_norm", True)
    dev = resolve_device(device)
    dataset = open_dataset(data, label_set, model.config.seq_len)
    check_input_widths(model.config, dataset, checkpoint, data)
    for m in MODALITIES:
        if not dataset.has_modality(m):
            click.echo(
                f"note: {data} holds no {NAMES[m]} features: the {m} row scores zeros, the av row is no fusion",
                err=True,
            )
    result = run_eval(
        model.to(dev),
        dataset,
        batch_size=batch_size,
        feat_norm=feat_norm,
        device=dev,
        num_workers=num_workers,
        bf16=use_bf16(dev, None) and torch.cuda.is_bf16_supported(),
        progress=True,
    )
    metrics = summary(result)
    click.echo(f"{'':>6} {'acc':>8} {'mAP':>8} {'mAUC':>8} {'d_prime':>8}   ({len(dataset)} clips)")
    for m in VIEWS:
        row = metrics[m]
        click.echo(f"{m:>6} " + " ".join(f"{row[k]:8.4f}" for k in ("acc", "mAP", "mAUC", "d_prime")))
    if json_out:
        write_json_atomic(json_out, {"checkpoint": checkpoint, "data": data, "clips": len(dataset), **metrics})
    if export_vggsounder:
        click.echo(f"wrote {export(result, label_set, export_vggsounder, top_k=top_k)}")


@click.command(context_settings={"show_default": True})
@click.argument("name", type=click.Choice(["vggsound-released", "vggsound-raw"]))
@click.option("--root", default="data/vggsound-released", help="Folder for downloads, features and stores.")
@click.option(
    "--recipe",
    type=click.Path(dir_okay=False),
    default=None,
    help="Training recipe (default: the paper's VGGSound UAVM recipe).",
)
@click.option(
    "--mirror",
    default=None,
    help="Fetch the released files from <mirror>/<file name> instead; vggsound-raw: where vggsound.csv and "
    "the media archives are.",
)
@click.option(
    "--archives",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="vggsound-raw: a file listing the archive names (default vggsound_00.tar.gz ... vggsound_19.tar.gz).",
)
@click.option("--audio-encoder", default=None, help="vggsound-raw: audio encoder spec (default: the paper's).")
@click.option("--visual-encoder", default=None, help="vggsound-raw: visual encoder spec (default: the paper's).")
@click.option("--short-side", type=int, default=None, help="vggsound-raw: frame short side (default: the paper's).")
@click.option("--workers", type=int, default=4, help="vggsound-raw: decoding processes.")
@click.option("--keep-downloads", is_flag=True, help="Keep the zip archives after unpacking.")
@click.option("--prepare-only", is_flag=True, help="Stop after packing the stores.")
@click.option("--resume", is_flag=True, help="Continue an interrupted training run.")
@click.argument("overrides", nargs=-1)
def recipe(
    name: str,
    root: str,
    recipe: str | None,
    mirror: str | None,
    keep_downloads: bool,
    prepare_only: bool,
    resume: bool,
    overrides: tuple[str, ...],
    archives: str | None = None,
    audio_encoder: str | None = None,
    visual_encoder: str | None = None,
    short_side: int | None = None,
    workers: int = 4,
) -> None:
    """Run a named end-to-end recipe.

    vggsound-released: download the released features, pack them, train.
    vggsound-raw: stream the mirror's media archives into train / test stores, train, evaluate on test.
    """
    if name == "vggsound-raw":
        _recipe_raw(root, mirror, archives, audio_encoder, visual_encoder, short_side, workers)
        if not prepare_only:
            _train_recipe(root, recipe, resume, overrides, evaluate_on_test=True)
        return

    from ..recipes.vggsound_released import is_prepared, prepare_vggsound_released

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not is_prepared(root):
        raise ConfigError(
            f"{root}: not prepared; run `uavm recipe {name} --root {root} --prepare-only` "
            "once (one process) before training under torchrun"
        )
    prepared = prepare_vggsound_released(
        root, mirror=mirror, keep_downloads=keep_downloads, progress=int(os.environ.get("RANK", "0")) == 0
    )
    for split in prepared.stores:
        click.echo(f"{split}: {prepared.stores[split]} ({prepared.missing[split]} clips without features skipped)")
    if prepare_only:
        return
    _train_recipe(root, recipe, resume, overrides)


def _recipe_raw(
    root: str,
    mirror: str | None,
    archives: str | None,
    audio_encoder: str | None,
    visual_encoder: str | None,
    short_side: int | None,
    workers: int,
) -> None:
    """vggsound-raw's preparation: archives → stores (once, in one process)."""
    from ..extraction import ExtractOptions
    from ..feature_spec import FeatureSpec
    from ..recipes.vggsound_raw import is_prepared, prepare_vggsound_raw

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not is_prepared(root):
        raise ConfigError(
            f"{root}: not prepared; run `uavm recipe vggsound-raw --root {root} --mirror ... --prepare-only` "
            "once (one process) before training under torchrun"
        )
    spec = FeatureSpec().replace(
        **{
            k: v
            for k, v in {
                "audio_encoder": audio_encoder,
                "visual_encoder": visual_encoder,
                "short_side": short_side,
            }.items()
            if v is not None
        }
    )
    prepared = prepare_vggsound_raw(
        root, mirror or "", archives=archives, features=spec, options=ExtractOptions(workers=workers)
    )
    if prepared.report is not None:
        click.echo(prepared.report.summary())
    for split, store in prepared.stores.items():
        click.echo(f"{split}: {store}")


def _train_recipe(
    root: str, recipe: str | None, resume: bool, overrides: tuple[str, ...], evaluate_on_test: bool = False
) -> None:
    """Train the paper's VGGSound recipe (or ``recipe``) on ``root/store/{train,test}``; optionally evaluate on test."""
    from ..recipes.vggsound_released import PAPER_RECIPE
    from ..train.config import apply_overrides, build_config, load_recipe
    from ..train.distributed import teardown
    from ..train.trainer import train as run_training

    values = load_recipe(recipe) if recipe else dict(PAPER_RECIPE)
    values.update(
        train=str(Path(root) / "store" / "train"),
        test=str(Path(root) / "store" / "test"),
        out_dir=str(Path(root) / "runs" / "uavm"),
    )
    config = build_config(apply_overrides(values, list(overrides)))
    try:
        result = run_training(config, resume=resume)
        _report(result)
    finally:
        teardown()
    if evaluate_on_test and int(os.environ.get("RANK", "0")) == 0:
        click.get_current_context().invoke(
            evaluate,
            checkpoint=str(result.best_model),
            data=values["test"],
            num_workers=config.num_workers,
            json_out=str(Path(values["out_dir"]) / "test_metrics.json"),
        )


def _run_setting(checkpoint: Path, key: str, default):
    """A setting of the training run whose output folder holds ``checkpoint`` (its config.yaml)."""
    saved = checkpoint.parent / "config.yaml"
    if saved.exists():
        values = yaml.safe_load(saved.read_text()) or {}
        if key in values:
            return values[key]
    return default


def _report(result) -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return
    tables = result.results_csv if result.results_csv.exists() else result.out_dir / "results.json"  # no split
    click.echo(f"results: {tables}")
    click.echo(f"best epoch {result.best_epoch} (selected on {result.selected_on}): {result.best_model}")
    click.echo(json.dumps({"best_model": str(result.best_model), "last_model": str(result.last_model)}))
