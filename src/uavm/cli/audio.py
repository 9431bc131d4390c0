"""``uavm train-audio-encoder``: train the ConvNeXt audio encoder on media files."""

from __future__ import annotations

import json

import click


@click.command(context_settings={"show_default": True})
@click.option(
    "--recipe",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Recipe YAML (recipes/<dataset>/audio_encoder.yaml); settings below override it.",
)
@click.option("--resume", is_flag=True, help="Continue the run in the output folder from its last checkpoint.")
@click.option("--out-dir", "-o", default=None, help="Output folder (same as out_dir=...).")
@click.argument("overrides", nargs=-1)
def train_audio_encoder(recipe: str | None, resume: bool, out_dir: str | None, overrides: tuple[str, ...]) -> None:
    """Train an audio encoder; OVERRIDES are key=value settings (train=data.json epochs=5 device=cuda ...).

    Writes what every training run writes (config.yaml, checkpoint.pt for --resume,
    best_model.safetensors: the best epoch on the validation split, last_model.safetensors,
    results.csv / results.json / results.png, train.log), and averaged.safetensors (with
    weight_averaging) and skipped_clips.json.
    """
    from ..train import audio_encoder as training  # here, so `uavm --help` works without the [train] extra

    settings = list(overrides) + ([f"out_dir={out_dir}"] if out_dir else [])
    config = training.config_from_recipe(recipe, settings)
    result = training.train_audio_encoder(config, resume=resume)
    summary = {
        "out_dir": str(result.out_dir),
        "best_epoch": result.best_epoch,
        "best_model": str(result.best_model),
        "last_model": str(result.last_model),
        "averaged": str(result.extra["averaged_model"]) if result.extra.get("averaged_model") else None,
        "last_epoch": result.history[-1] if result.history else None,
        "skipped_clips": len(result.extra.get("skipped", [])),
    }
    click.echo(json.dumps(summary, indent=2))
