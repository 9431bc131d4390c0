"""``uavm predict``: ranked classes for media files, audio-only, visual-only and fused."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from ..errors import UAVMError, printable
from ..modality import VIEW_NAMES
from .options import model_options, timeline_options

if TYPE_CHECKING:  # uavm.predict imports torch: only when the command runs, so `--help` stays fast
    from ..predict import ClipPrediction, Predictor


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@model_options()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (JSON Lines).")
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option(
    "--timeline",
    "as_timeline",
    is_flag=True,
    help="Slide a window over each file: per window the three top-k lists and the audio-visual agreement.",
)
@timeline_options()
@click.option(
    "--plot",
    "plot_path",
    default=None,
    help="With --timeline: write a PNG of the top classes per view and the agreement along time.",
)
@click.option(
    "--bf16/--fp32",
    default=None,
    help="Encoders in bfloat16 autocast (default: on a GPU only; on a CPU only where it has native "
    "bf16, e.g. AVX512-BF16 or AMX: without it bf16 is emulated and several times slower).",
)
def predict(
    inputs: tuple[str, ...],
    model_spec: str,
    audio_encoder: str | None,
    visual_encoder: str | None,
    labels: str | None,
    top_k: int,
    as_json: bool,
    batch_size: int,
    device: str,
    as_timeline: bool,
    window: float,
    hop: float,
    plot_path: str | None,
    bf16: bool | None,
) -> None:
    """Classify INPUTS (media files or folders of them) with a UAVM model."""
    from ..predict import Predictor, media_files

    if plot_path and not as_timeline:
        raise click.UsageError("--plot needs --timeline")
    predictor = Predictor(
        model_spec,
        audio_encoder=audio_encoder,
        visual_encoder=visual_encoder,
        labels=labels,
        top_k=top_k,
        device=device,
        batch_size=batch_size,
        bf16=bf16,
    )
    files = media_files(inputs)
    if as_timeline:
        _timelines(predictor, files, window, hop, as_json, plot_path)
        return
    failed = 0
    for result in predictor.predict_many(files, progress=len(files) > 1 and not as_json):
        if result.error:
            failed += 1
            click.echo(f"error: {result.error}", err=True)
        if as_json:
            click.echo(json.dumps(result.to_json()))
        elif not result.error:
            click.echo(_format(result))
    if failed:
        sys.exit(1)


def _timelines(
    predictor: Predictor, files: list, window: float, hop: float, as_json: bool, plot_path: str | None
) -> None:
    """``--timeline``: one JSON object per window with ``--json``, else a table per file.

    A file that cannot be read gets a one-line error and the others go on (exit status 1).
    """
    from ..timeline import plot_timeline

    if plot_path and len(files) != 1:
        raise click.UsageError("--plot takes one input file")
    failed = 0
    for path in files:
        try:
            result = predictor.timeline(path, window=window, hop=hop, progress=not as_json and sys.stderr.isatty())
        except UAVMError as exc:  # the other files go on; the exit status says one failed
            failed += 1
            click.echo(f"error: {printable(str(exc))}", err=True)
            continue
        name = printable(str(path))
        for note in result.notes:
            click.echo(f"note: {name}: {note}", err=True)
        if as_json:
            for w in result.windows:
                click.echo(json.dumps(w.to_json()))
        else:
            click.echo(f"{name} ({result.duration:.1f} s)")
            for w in result.windows:
                top = {v: getattr(w, v)[0] for v in ("audio", "visual", "fused") if getattr(w, v)}
                agree = "" if w.agreement is None else f"  agreement {w.agreement:4.2f}"
                click.echo(
                    f"  {w.start:7.1f}-{w.end:7.1f} s{agree}  "
                    + "  ".join(f"{v}: {n} ({p:.0%})" for v, (n, p) in top.items())
                )
        if plot_path:
            click.echo(f"plot: {plot_timeline(result, plot_path)}", err=True)
    if failed:
        sys.exit(1)


def _format(result: ClipPrediction) -> str:
    lines = [result.path]
    for view in VIEW_NAMES:
        ranked = getattr(result, view)
        if ranked is not None:
            lines.append(f"  {view}:")
            lines += [f"    {p:6.1%}  {name}" for name, p in ranked]
    lines += [f"  note: {note}" for note in result.notes]
    return "\n".join(lines)
