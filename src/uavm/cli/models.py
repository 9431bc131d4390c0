"""``uavm models``, ``uavm info`` and ``uavm convert``."""

from __future__ import annotations

import json

import click

from ..registry import AUDIO_ENCODERS, REGISTRY, VISUAL_ENCODERS


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the registry as JSON.")
@click.option("--encoders", is_flag=True, help="List the registered audio and visual encoders instead.")
def models(as_json: bool, encoders: bool) -> None:
    """List the registered paper models (or encoders) and their released weights."""
    entries = [*AUDIO_ENCODERS.values(), *VISUAL_ENCODERS.values()] if encoders else list(REGISTRY.values())
    if as_json:
        click.echo(json.dumps([entry.to_dict() for entry in entries], indent=2))
        return
    if encoders:
        rows = [("name", "kind", "size", "input", "description")]
        for entry in entries:
            shown = (
                f"{entry.fbank.target_frames} fbank frames, {entry.dataset} statistics"
                if entry.kind == "audio_encoder"
                else "RGB frames, ImageNet normalisation"
            )
            rows.append((entry.name, entry.kind.replace("_", " "), entry.size, shown, entry.description))
    else:
        rows = [("name", "arch", "di/ds", "classes", "audio encoder", "description")]
        for entry in entries:
            c = entry.config
            rows.append(
                (
                    entry.name,
                    c.arch,
                    f"{c.depth_i}/{c.depth_s}",
                    str(c.num_classes),
                    str(entry.audio_encoder),
                    entry.description,
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])


@click.command()
@click.argument("checkpoint")
@click.option(
    "--arch",
    type=click.Choice(["unified", "independent", "cross_attention"]),
    default=None,
    help="Architecture, when the file cannot tell (cross-attention with depth_i = 0).",
)
@click.option("--num-heads", type=int, default=None, help="Attention heads (default: from the file name, else 4).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def info(checkpoint: str, arch: str | None, num_heads: int | None, as_json: bool) -> None:
    """Architecture, sizes and parameter count of CHECKPOINT (reference .pth or safetensors)."""
    from ..models import load_model

    model = load_model(checkpoint, arch=arch, num_heads=num_heads)
    summary = {
        "checkpoint": checkpoint,
        **model.config.to_dict(),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    for key, value in summary.items():
        click.echo(f"{key:>12}: {value:,}" if isinstance(value, int) else f"{key:>12}: {value}")


@click.command()
@click.argument("source")
@click.argument("dest")
@click.option("--arch", type=click.Choice(["unified", "independent", "cross_attention"]), default=None)
@click.option("--num-heads", type=int, default=None, help="Attention heads (default: from the file name, else 4).")
def convert(source: str, dest: str, arch: str | None, num_heads: int | None) -> None:
    """Convert a reference checkpoint SOURCE to a uavm safetensors file DEST."""
    from ..models import convert as convert_checkpoint

    path = convert_checkpoint(source, dest, arch=arch, num_heads=num_heads)
    click.echo(f"wrote {path}")


@click.command()
@click.argument("model")
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--labels", default=None, help="Label set (vggsound, audioset or a label CSV) if the model records none.")
def export(model: str, dest: str, labels: str | None) -> None:
    """Write MODEL as a Hugging Face Hub-ready folder DEST (weights, config.json, labels.csv, model card).

    Upload it with `huggingface-cli upload ORG/NAME DEST`; then `--model hf-hub:ORG/NAME` loads it.
    """
    from ..export import export_model

    out = export_model(model, dest, labels=labels)
    click.echo(f"wrote {out}: " + ", ".join(sorted(p.name for p in out.iterdir())))
