"""``uavm extract``: media files → audio and visual feature sequences in a feature store.

Worker processes decode (one open per clip for both tracks) and compute the
fbank; the main process runs both encoders on batches of clips and appends the
results to the store, which commits a shard atomically every ``shard_size``
clips. Decoding overlaps encoding: the workers start before the encoders are
built and keep two batches (plus one clip per worker) decoded ahead, so the
encoders never wait for a batch while the workers keep up. Results come back in input order, so an interrupted run that is started
again continues where the last commit left off and ends with the same store as
an uninterrupted run. Clips that fail are listed in ``failures.csv`` with the
reason; a clip that lacks one track keeps the other and is marked.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import multiprocessing.pool
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data.labels import LabelSet
from ..device import torch_threads
from ..errors import ConfigError
from ..feature_spec import FeatureSpec
from ..modality import LONG_NAMES
from ..progress import progress_bar
from ..store import FeatureStoreWriter
from ..store.records import MANIFEST, Manifest
from .decode import MISSING, DecodedClip, decode_clip, describe_problems, init_worker
from .distributed import COMPLETE, merge_if_complete, part_path, shard_block
from .extractor import ClipFeatures, FeatureExtractor
from .failures import FAILURES, FailureLog
from .inputs import ClipInput

STAGES = ("decode", "fbank", "decode_wait", "audio_net", "visual_net", "write")


@dataclass
class ExtractOptions:
    """How to run an extraction (what the features are is a :class:`~uavm.feature_spec.FeatureSpec`)."""

    workers: int = 4  # decoding processes; 0 decodes in the main process
    batch_size: int = 16  # clips per encoder batch
    frame_batch: int = 128  # frames per visual-encoder forward pass
    shard_size: int = 1024  # clips per committed shard
    device: str | None = None  # default: this process's GPU if any, else CPU
    bf16: bool | None = None  # bfloat16 autocast + channels-last; default: on a GPU only
    progress: bool = True


@dataclass
class ExtractReport:
    """What a run did. ``seconds`` sums each stage over the clips (decode/fbank: worker time).

    ``decode_wait`` is the time the encoders waited for decoded clips (the workers' start
    included): near zero when decoding overlaps encoding.
    """

    store: Path
    extracted: int = 0
    already_done: int = 0
    failures: int = 0
    without_audio: int = 0
    without_visual: int = 0
    wall_seconds: float = 0.0
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    merged: bool = False

    @property
    def clips_per_second(self) -> float:
        """End-to-end rate of this run (clips extracted or failed per wall-clock second)."""
        return (self.extracted + self.failures) / self.wall_seconds if self.wall_seconds else 0.0

    def summary(self) -> str:
        """A few human-readable lines."""
        done = self.extracted + self.failures
        per_clip = ", ".join(f"{k} {1000 * v / done:.0f} ms" for k, v in self.seconds.items() if done and v)
        lines = [
            f"{self.extracted} clips extracted into {self.store} ({self.already_done} were already there), "
            f"{self.failures} failed",
            f"{self.clips_per_second:.2f} clips/s end to end" + (f"; per clip: {per_clip}" if per_clip else ""),
        ]
        if self.without_audio or self.without_visual:
            lines.append(
                f"{self.without_audio} clips have no audio track, {self.without_visual} no video track "
                "(kept with the other modality)"
            )
        if self.failures:
            lines.append(f"failures and reasons: {self.store / FAILURES}")
        return "\n".join(lines)


def extract(
    inputs: Sequence[ClipInput],
    store: str | Path,
    features: FeatureSpec | FeatureExtractor | None = None,
    options: ExtractOptions | None = None,
    labels: LabelSet | None = None,
    shard: tuple[int, int] | None = None,
) -> ExtractReport:
    """Extract features of ``inputs`` into ``store`` (resuming it if it exists).

    ``features`` says what to extract: a :class:`FeatureSpec` (its encoders are resolved
    on ``options.device``) or a ready :class:`FeatureExtractor` (its own device and bf16
    are used). ``labels`` checks every clip's mids against a vocabulary and names it in the
    store. ``shard=(i, n)`` processes block ``i`` of ``n`` into a part of the store and
    joins the parts once all are complete (see :mod:`.distributed`).
    """
    options = options or ExtractOptions()
    with decoding_pool(options.workers) as pool:  # first: the workers start while the encoders load
        extractor = (
            features
            if isinstance(features, FeatureExtractor)
            else FeatureExtractor(features, device=options.device, bf16=options.bf16, frame_batch=options.frame_batch)
        )
        with main_threads(extractor.device, options.workers):
            return _extract(inputs, store, extractor, options, labels, shard, pool)


def _extract(
    inputs: Sequence[ClipInput],
    store: str | Path,
    extractor: FeatureExtractor,
    options: ExtractOptions,
    labels: LabelSet | None,
    shard: tuple[int, int] | None,
    pool: multiprocessing.pool.Pool | None,
) -> ExtractReport:
    spec = extractor.spec
    store = Path(store)
    target = store if shard is None else part_path(store, *shard)
    items = list(inputs) if shard is None else shard_block(inputs, *shard)
    check_resumable(target, spec)
    report = ExtractReport(store=target)
    failures = FailureLog(target / FAILURES)
    start = time.perf_counter()
    with FeatureStoreWriter(
        target,
        seq_len=spec.seq_len,
        dim=extractor.dim,
        shard_size=options.shard_size,
        label_set=labels.source if labels else None,
        metadata={**spec.to_dict(), COMPLETE: False},
    ) as writer:
        try:
            todo = [item for item in items if item.clip_id not in writer.done_ids]
            report.already_done = len(items) - len(todo)
            failures.set_order([item.clip_id for item in items])
            failures.keep_stored(writer.done_ids)  # rows of stored, partly failed clips (not retried)
            todo = _check_labels(todo, labels, failures)
            _run(writer, failures, todo, extractor, options, report, pool)
            writer.manifest.metadata[COMPLETE] = True
        finally:
            writer.commit()
            failures.save()  # after the last commit: the file matches the committed store
    report.failures = len(failures)
    report.wall_seconds = time.perf_counter() - start
    if shard is not None:
        report.merged = merge_if_complete(store, shard[1])
    return report


def _run(
    writer: FeatureStoreWriter,
    failures: FailureLog,
    todo: list[ClipInput],
    extractor: FeatureExtractor,
    options: ExtractOptions,
    report: ExtractReport,
    pool: multiprocessing.pool.Pool | None,
) -> None:
    bar = progress_bar(total=len(todo), unit="clip", desc="extract", enabled=options.progress, smoothing=0.1)
    with bar:
        for features in encoded_batches(todo, extractor, options, pool, report.seconds):
            shards_before = len(writer.manifest.shards)
            t = time.perf_counter()
            for clip in features:
                store_clip(writer, failures, clip, report)
            report.seconds["write"] += time.perf_counter() - t
            if len(writer.manifest.shards) != shards_before:
                failures.save()  # keep the failures file in step with what is committed
            bar.update(len(features))
            bar.set_postfix(failed=len(failures), refresh=False)


def encoded_batches(
    items: Iterable[ClipInput],
    extractor: FeatureExtractor,
    options: ExtractOptions,
    pool: multiprocessing.pool.Pool | None,
    seconds: dict[str, float],
) -> Iterator[list[ClipFeatures]]:
    """The clips' features, a batch at a time, in input order: decoded in ``pool``'s workers
    (here without one) while the encoders run on the batch before.

    ``items`` may be a lazy iterator (archive members arrive as they are read). ``seconds``
    accumulates every stage, ``decode_wait`` (the encoders idle, waiting for a batch) included.
    """
    ahead = 2 * options.batch_size + options.workers
    batches = _batches(_decoded(items, extractor.spec, pool, ahead), options.batch_size)
    while True:
        t = time.perf_counter()
        batch = next(batches, None)
        seconds["decode_wait"] = seconds.get("decode_wait", 0.0) + time.perf_counter() - t
        if batch is None:
            return
        for clip in batch:
            for stage, spent in clip.seconds.items():
                seconds[stage] = seconds.get(stage, 0.0) + spent
        yield extractor.encode(batch, seconds)


def check_resumable(store: Path, spec: FeatureSpec) -> None:
    """An existing store must have been made with ``spec``: else a one-line error naming the store and a key."""
    if not (store / MANIFEST).exists():
        return
    manifest = Manifest.load(store)
    old = manifest.feature_spec
    if old is None:
        return
    # seq_len is the store's own shape, checked by the writer
    changed = [(k, was, now) for k, was, now in old.differences(spec) if k in manifest.metadata and k != "seq_len"]
    if changed:
        key, was, now = changed[0]
        raise ConfigError(
            f"{store}: was extracted with {key} = {was!r}, not {now!r}; "
            "use another --out to extract with different settings"
        )


def _check_labels(items: list[ClipInput], labels: LabelSet | None, failures: FailureLog) -> list[ClipInput]:
    if labels is None:
        return items
    known = set(labels.mids)
    kept = []
    for item in items:
        unknown = [m for m in item.labels if m not in known]
        if unknown:
            failures.add(item.clip_id, item.path, f"label {unknown[0]!r} is not in the label set {labels.source}")
        else:
            kept.append(item)
    return kept


@contextlib.contextmanager
def decoding_pool(workers: int) -> Iterator[multiprocessing.pool.Pool | None]:
    """``workers`` single-threaded decoding processes (``None`` for 0: decode in this process).

    Started at once: each imports torch and PyAV (seconds), in parallel with loading the encoders.
    """
    if workers <= 0:
        yield None
        return
    context = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
    with context.Pool(workers, initializer=init_worker) as pool:
        yield pool


@contextlib.contextmanager
def main_threads(device: torch.device, workers: int) -> Iterator[None]:
    """On a GPU, this process's torch CPU threads are kept from competing with the decoding workers.

    Its CPU work there is gathering batches and copying them; idle intra-op threads that spin
    would take cores from the workers, which are the limit. On a CPU the encoders are the
    limit and keep every thread.
    """
    if device.type == "cpu" or workers <= 0:
        yield
        return
    with torch_threads(2):
        yield


def _decoded(
    items: Iterable[ClipInput], config: FeatureSpec, pool: multiprocessing.pool.Pool | None, ahead: int
) -> Iterator[DecodedClip]:
    """Decoded clips in input order, up to ``ahead`` submitted before the one returned (bounded memory).

    ``ahead`` must exceed a batch: the next batch is decoded while the encoders run on this one.
    """
    if pool is None:
        for item in items:
            yield decode_clip(item, config)
        return
    pending: collections.deque = collections.deque()
    queue = iter(items)
    for item in queue:
        pending.append(pool.apply_async(decode_clip, (item, config)))
        if len(pending) >= ahead:
            break
    while pending:
        result = pending.popleft().get()
        next_item = next(queue, None)
        if next_item is not None:
            pending.append(pool.apply_async(decode_clip, (next_item, config)))
        yield result


def _batches(clips: Iterator[DecodedClip], size: int) -> Iterator[list[DecodedClip]]:
    batch: list[DecodedClip] = []
    for clip in clips:
        batch.append(clip)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def store_clip(writer: FeatureStoreWriter, failures: FailureLog, clip: ClipFeatures, report: ExtractReport) -> None:
    item, problems, audio, visual = clip.item, clip.problems, clip.audio, clip.visual
    if audio is None and visual is None:
        failures.add(item.clip_id, item.path, describe_problems(problems))
        return
    writer.add(item.clip_id, str(item.path), list(item.labels), audio, visual)
    report.extracted += 1
    report.without_audio += problems.get("audio") == MISSING
    report.without_visual += problems.get("visual") == MISSING
    broken = {m: p for m, p in problems.items() if p != MISSING}
    if broken:  # one track is stored, the other failed: listed, since it was expected to work
        kept = LONG_NAMES[1] if visual is not None else LONG_NAMES[0]
        failures.add(item.clip_id, item.path, f"{describe_problems(broken)} ({kept} features kept)")
