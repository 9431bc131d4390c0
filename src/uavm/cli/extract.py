"""``uavm extract`` (media → feature store) and ``uavm pack`` (reference per-clip features → store)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..feature_spec import INTERPOLATIONS, FeatureSpec

PAPER = FeatureSpec()  # the flags' defaults: the paper's features
SOME_FAILED = 2  # exit status when the job finished but some clips are in failures.csv


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Feature store folder (created, or resumed)."
)
@click.option(
    "--audio-encoder",
    default=PAPER.audio_encoder,
    show_default=True,
    help="Registry name, checkpoint path/URL, random:<size>[:<seed>], or none.",
)
@click.option(
    "--visual-encoder",
    default=PAPER.visual_encoder,
    show_default=True,
    help="Registry name (convnext_<size>_imagenet), checkpoint path/URL, random:<size>[:<seed>], or none.",
)
@click.option(
    "--labels", default=None, help="Check label mids against vggsound, audioset or a label CSV, and record it."
)
@click.option(
    "--workers", type=int, default=4, show_default=True, help="Decoding processes (0: decode in this process)."
)
@click.option("--batch-size", type=int, default=16, show_default=True, help="Clips per encoder batch.")
@click.option("--frame-batch", type=int, default=128, show_default=True, help="Frames per visual-encoder pass.")
@click.option(
    "--shard",
    default=None,
    help="Do block i of n of the input (i/n); parts join when all are done. "
    "Under torchrun the rank and world size are used.",
)
@click.option("--shard-size", type=int, default=1024, show_default=True, help="Clips per store shard (commit unit).")
@click.option("--seq-len", type=int, default=PAPER.seq_len, show_default=True, help="Time steps stored per clip.")
@click.option("--fps", type=float, default=PAPER.fps, show_default=True, help="Video frames per second.")
@click.option("--short-side", type=int, default=PAPER.short_side, show_default=True, help="Frame short side in pixels.")
@click.option(
    "--interpolation",
    type=click.Choice(INTERPOLATIONS),
    default=PAPER.interpolation,
    show_default=True,
    help="Frame resizing: bicubic (reference under FFmpeg >= 5) or bilinear (under FFmpeg 4.x).",
)
@click.option("--device", default=None, help="torch device (default: this process's GPU if any, else cpu).")
@click.option(
    "--bf16/--fp32",
    "bf16",
    default=None,
    help="Encoders in bfloat16 autocast (default: on a GPU) or float32 (default: on a CPU).",
)
@click.option(
    "--clip-table",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="Archives only: VGGSound's vggsound.csv (youtube_id, start, label, split): labels, and a store per split.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def extract(
    inputs: tuple[str, ...],
    out: str,
    audio_encoder: str,
    visual_encoder: str,
    labels: str | None,
    workers: int,
    batch_size: int,
    frame_batch: int,
    shard: str | None,
    shard_size: int,
    seq_len: int,
    fps: float,
    short_side: int,
    interpolation: str,
    device: str | None,
    bf16: bool | None,
    clip_table: str | None,
    quiet: bool,
) -> None:
    """Extract audio and visual features of INPUT into a feature store.

    INPUT is a folder of media files, a CSV/JSON manifest (path, id, labels) or a
    reference datafile; or one or more tar / tar.gz / zip archives (paths or
    http(s) URLs, or .txt files listing them), streamed without unpacking (with
    --clip-table, OUT/<split> stores). A re-run skips clips (and finished archives) already stored. Exit status 2 when
    some clips failed (see OUT/failures.csv). Run under `torchrun --nproc-per-node
    N -m uavm extract ...` to spread the work over GPUs and nodes.
    """
    from ..data.labels import load_labels
    from ..extraction import ExtractOptions, read_inputs
    from ..extraction import extract as run_extract
    from ..extraction.distributed import choose_shard, torchrun_shard
    from ..extraction.failures import FAILURES, read_failures

    part = choose_shard(shard)
    vocabulary = load_labels(labels) if labels else None
    archives = _archives(inputs, part)
    items = read_inputs(inputs[0]) if archives is None else []
    spec = FeatureSpec(
        audio_encoder, visual_encoder, fps=fps, short_side=short_side, interpolation=interpolation, seq_len=seq_len
    ).validate("uavm extract")
    options = ExtractOptions(
        workers=workers,
        batch_size=batch_size,
        frame_batch=frame_batch,
        shard_size=shard_size,
        device=device,
        bf16=bf16,
        progress=not quiet,
    )
    if archives is not None:
        from ..extraction.archives import extract_archives, read_vggsound_csv

        if clip_table and vocabulary is None:
            vocabulary = load_labels("vggsound")
        table = read_vggsound_csv(clip_table, vocabulary) if clip_table else None
        result = extract_archives(archives, out, spec, options, vocabulary, table)
        click.echo(result.summary())
        if result.failures:
            sys.exit(SOME_FAILED)
        return
    report = run_extract(items, out, spec, options, labels=vocabulary, shard=part)
    click.echo(report.summary())
    if part is not None:
        click.echo(
            f"part {part[0]}/{part[1]} done; "
            + (f"all parts joined into {out}" if report.merged else "the store is joined when every part is done")
        )
    if torchrun_shard() is not None:
        # a non-zero exit makes torchrun stop the other ranks: only the rank that joined the parts reports
        failed = report.merged and bool(read_failures(Path(out) / FAILURES))
    else:
        failed = bool(report.failures)
    if failed:
        sys.exit(SOME_FAILED)


def _archives(inputs: tuple[str, ...], part: tuple[int, int] | None) -> list[str] | None:
    """The archives INPUTS name (``None``: one folder or manifest); a one-line error for a mix."""
    from ..errors import ConfigError
    from ..extraction.archives import LIST_SUFFIXES, archive_list, is_archive

    listed = [i for i in inputs if is_archive(i) or i.lower().endswith(LIST_SUFFIXES)]
    if not listed:
        if len(inputs) > 1:
            raise ConfigError("give one folder or manifest, or one or more archives")
        if not Path(inputs[0]).exists():
            raise ConfigError(f"{inputs[0]}: no such folder or manifest file")
        return None
    if len(listed) != len(inputs):
        raise ConfigError(f"{[i for i in inputs if i not in listed][0]}: archives cannot be mixed with other inputs")
    if part is not None:
        raise ConfigError("--shard / torchrun: not for archives (give each process its own archives)")
    return archive_list(inputs)


@click.command()
@click.argument("datafile", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Feature store folder (created, or resumed)."
)
@click.option(
    "--labels", default=None, help="Check label mids against vggsound, audioset or a label CSV, and record it."
)
@click.option("--seq-len", type=int, default=PAPER.seq_len, show_default=True, help="Time steps stored per clip.")
@click.option("--shard-size", type=int, default=1024, show_default=True, help="Clips per store shard.")
@click.option("--threads", type=int, default=8, show_default=True, help="File-reading threads.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def pack(datafile: str, out: str, labels: str | None, seq_len: int, shard_size: int, threads: int, quiet: bool) -> None:
    """Convert a reference feature datafile (per-clip afeat/vfeat .npy files) into a feature store.

    Exit status 2 when some clips could not be read (see OUT/failures.csv).
    """
    from ..data.labels import load_labels
    from ..extraction import pack_datafile

    vocabulary = load_labels(labels) if labels else None
    report = pack_datafile(
        datafile, out, labels=vocabulary, seq_len=seq_len, shard_size=shard_size, threads=threads, progress=not quiet
    )
    click.echo(report.summary())
    if report.failures:
        sys.exit(SOME_FAILED)
