"""Archives as extraction inputs: tar, tar.gz and zip files, local or over http(s), streamed.

Media members are read into memory one at a time and handed to the decode
workers as bytes (:attr:`ClipInput.data`); nothing is unpacked to disk:

* tar / tar.gz (``.tar``, ``.tar.gz``, ``.tgz``, also ``.tar.bz2`` / ``.tar.xz``)
  are read sequentially (``tarfile`` in stream mode over Python's gzip / bz2 /
  lzma readers, which notice a stream cut short), from the file or from
  :func:`uavm.hub.open_stream` (a dropped connection resumes with ``Range`` after
  a back-off);
* zip needs random access (its index is at the end): a local zip is read in
  place; a zip URL is read with HTTP ``Range`` requests (:func:`uavm.hub.open_ranged`:
  the index, then each member, nothing on disk). Only from a server that does not
  answer ``Range`` is the zip downloaded (resumably) into a temporary folder that
  is deleted once the archive is done, so the temporary space is one archive.

A clip's id is its member's file name without the suffix (folders dropped), so
``../../x.mp4`` is the clip ``x``; hidden members (``._x.mp4``) and members
without a media suffix are skipped. Nothing is ever written under a member's
name. A member that is not readable media (or larger than ``MAX_MEMBER_BYTES``)
is a row of ``failures.csv``; the archive goes on.

Resuming: ``archives.json`` in the output folder lists the finished archives
(skipped by a re-run) with their failed clip ids; a half-read archive is read
again from its start and the members already in a store are skipped undecoded.

Labels and splits come from a clip table (:func:`read_vggsound_csv`, VGGSound's
``vggsound.csv``): with one, clips are routed by the table's split to
``<out>/<split>`` stores, and members the table does not list are failure rows
of ``<out>/failures.csv``; without one, ``<out>`` is the store.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import json
import lzma
import shutil
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..atomic import write_json_atomic
from ..data.labels import LabelSet
from ..errors import ConfigError, DownloadError
from ..feature_spec import FeatureSpec
from ..hub import RangeNotSupported, download, filename_from_url, open_ranged, open_stream
from ..progress import progress_bar
from ..store import FeatureStoreWriter
from .extractor import FeatureExtractor
from .failures import FAILURES, FailureLog
from .inputs import MEDIA_SUFFIXES, ClipInput
from .pipeline import (
    STAGES,
    ExtractOptions,
    ExtractReport,
    check_resumable,
    decoding_pool,
    encoded_batches,
    main_threads,
    store_clip,
)

ARCHIVE_LOG = "archives.json"
MAX_MEMBER_BYTES = 1 << 30  # a member is read into memory: larger ones are failure rows
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
ARCHIVE_SUFFIXES = (*TAR_SUFFIXES, ".zip")
LIST_SUFFIXES = (".txt", ".list")


@dataclass(frozen=True)
class ClipRow:
    """What a clip table says about one clip."""

    labels: tuple[str, ...]
    split: str


@dataclass
class ArchiveReport:
    """What an archive extraction did, per store (``stores``: split → report)."""

    stores: dict[str, ExtractReport]
    archives_done: int = 0
    archives_skipped: int = 0  # finished by an earlier run
    archive_errors: list[str] = field(default_factory=list)  # archives that could not be read to the end
    unlisted: int = 0  # members the clip table does not list
    duplicates: int = 0
    wall_seconds: float = 0.0
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))  # summed per stage

    @property
    def failures(self) -> int:
        return sum(r.failures for r in self.stores.values()) + self.unlisted + len(self.archive_errors)

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"{self.archives_done} archives read, {self.archives_skipped} finished earlier"
            + (f", {len(self.archive_errors)} could not be read to the end" if self.archive_errors else "")
        ]
        for split, report in self.stores.items():
            lines.append(
                f"{split}: {report.extracted} clips extracted into {report.store} "
                f"({report.already_done} were already there), {report.failures} failed"
            )
        if self.unlisted:
            lines.append(f"{self.unlisted} members are not in the clip table (listed in failures.csv)")
        if self.duplicates:
            lines.append(f"{self.duplicates} members repeat a clip id seen before (skipped)")
        done = sum(r.extracted + r.failures for r in self.stores.values())
        per_clip = ", ".join(f"{k} {1000 * v / done:.0f} ms" for k, v in self.seconds.items() if done and v)
        if per_clip:
            lines.append(f"per clip: {per_clip}")
        lines += self.archive_errors
        return "\n".join(lines)


def is_archive(name: str | Path) -> bool:
    """Whether ``name`` (a path or URL) names an archive by its suffix."""
    text = str(name).split("?")[0].lower()
    return text.endswith(ARCHIVE_SUFFIXES)


def archive_list(sources: Sequence[str | Path]) -> list[str]:
    """The archives named by ``sources``: archive paths / URLs, or text files listing one per line (``#`` comments)."""
    out: list[str] = []
    for source in map(str, sources):
        if source.lower().endswith(LIST_SUFFIXES) and not source.startswith(("http://", "https://")):
            try:
                lines = Path(source).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{source}: unreadable archive list ({exc})") from None
            out += [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
        else:
            out.append(source)
    for name in out:
        if not is_archive(name):
            raise ConfigError(f"{name}: not an archive (use {', '.join(ARCHIVE_SUFFIXES)})")
        if not name.startswith(("http://", "https://")) and not Path(name).is_file():
            raise ConfigError(f"{name}: no such archive")
    return list(dict.fromkeys(out))


def read_vggsound_csv(path: str | Path, labels: LabelSet | None = None) -> dict[str, ClipRow]:
    """VGGSound's ``vggsound.csv`` (no header: youtube_id, start seconds, label, split) by clip id.

    The clip id is ``<youtube_id>_<start:06d>``, as the mirrors name the files. With
    ``labels``, display names become the vocabulary's mids (an unknown name is an error).
    """
    path = Path(path)
    mid_of = dict(zip(labels.names, labels.mids)) if labels is not None else {}
    table: dict[str, ClipRow] = {}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.reader(f)):
                if not row:
                    continue
                if len(row) < 4:
                    raise ConfigError(f"{path} line {i + 1}: expected youtube_id, start, label, split")
                ytid, start, label, split = (c.strip() for c in row[:4])
                try:
                    clip_id = f"{ytid}_{int(float(start)):06d}"
                except ValueError:
                    raise ConfigError(f"{path} line {i + 1}: start {start!r} is not a number of seconds") from None
                if labels is not None and label not in mid_of:
                    raise ConfigError(f"{path} line {i + 1}: label {label!r} is not in the label set {labels.source}")
                if not split or "/" in split or split.startswith("."):
                    raise ConfigError(f"{path} line {i + 1}: split {split!r} is not a usable store name")
                table[clip_id] = ClipRow((mid_of.get(label, label),), split)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: unreadable clip table ({exc})") from None
    if not table:
        raise ConfigError(f"{path}: the clip table lists no clips")
    return table


def member_clip_id(name: str) -> str | None:
    """The clip id of a member name (its file name without the suffix), ``None`` for a member to skip."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.suffix.lower() not in MEDIA_SUFFIXES or pure.name.startswith("."):
        return None
    stem = pure.stem
    return stem if stem and stem not in (".", "..") else None


def safe_member_path(name: str) -> str:
    """The member name without ``..``, ``.``, empty and root parts: how it is shown as a source."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("/", ".", "..", "")]
    return "/".join(parts)


class ArchiveLog:
    """``archives.json``: the finished archives and the clip ids that failed in each."""

    def __init__(self, path: Path):
        self.path = path
        self.finished: dict[str, dict] = {}
        if path.is_file():
            try:
                self.finished = json.loads(path.read_text(encoding="utf-8")).get("finished", {})
            except (OSError, ValueError, AttributeError) as exc:
                raise ConfigError(
                    f"{path}: unreadable archive log ({exc}); delete it to read every archive again"
                ) from None

    def failed_ids(self) -> set[str]:
        return {c for entry in self.finished.values() for c in entry.get("failed", [])}

    def finish(self, archive: str, members: int, failed: list[str]) -> None:
        self.finished[archive] = {"members": members, "failed": sorted(failed)}
        write_json_atomic(self.path, {"finished": self.finished})


def extract_archives(
    archives: Sequence[str],
    out: str | Path,
    features: FeatureSpec | FeatureExtractor | None = None,
    options: ExtractOptions | None = None,
    labels: LabelSet | None = None,
    table: dict[str, ClipRow] | None = None,
    *,
    retries: int = 5,
    backoff: float = 1.0,
    tmp_dir: str | Path | None = None,
) -> ArchiveReport:
    """Extract the media members of ``archives`` into ``out`` (one store, or a store per split of ``table``).

    ``labels`` names the vocabulary in the stores; ``table`` gives each clip's labels
    and split. ``retries`` / ``backoff`` govern dropped downloads; ``tmp_dir`` is where a
    zip URL is downloaded for the time it is read (default: the system's temporary folder).
    """
    options = options or ExtractOptions()
    extractor = (
        features
        if isinstance(features, FeatureExtractor)
        else FeatureExtractor(features, device=options.device, bf16=options.bf16, frame_batch=options.frame_batch)
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    splits = sorted({row.split for row in table.values()}) if table else [None]
    stores = {s: (out / s if s else out) for s in splits}
    log = ArchiveLog(out / ARCHIVE_LOG)
    done_failed = log.failed_ids()
    start = time.perf_counter()
    report = ArchiveReport({s or "store": ExtractReport(store=p) for s, p in stores.items()})
    with ExitStack() as stack:
        pool = stack.enter_context(decoding_pool(options.workers))
        stack.enter_context(main_threads(extractor.device, options.workers))
        writers, logs = {}, {}
        for split, store in stores.items():
            check_resumable(store, extractor.spec)
            writers[split] = stack.enter_context(
                FeatureStoreWriter(
                    store,
                    seq_len=extractor.spec.seq_len,
                    dim=extractor.dim,
                    shard_size=options.shard_size,
                    label_set=labels.source if labels else None,
                    metadata=extractor.spec.to_dict(),
                )
            )
            logs[split] = FailureLog(store / FAILURES)
            logs[split].keep_stored(writers[split].done_ids | done_failed)
        unlisted = FailureLog(out / FAILURES) if table else None
        if unlisted is not None:
            unlisted.keep_stored(done_failed)
        seen: set[str] = set()
        for archive in progress_bar(archives, desc="archives", unit="archive", enabled=options.progress):
            if archive in log.finished:
                report.archives_skipped += 1
                continue
            failed_before = {s: len(fl) for s, fl in logs.items()}
            unlisted_before = len(unlisted) if unlisted is not None else 0
            members = 0
            try:
                with ExitStack() as archive_stack:
                    items = _archive_items(
                        archive,
                        table,
                        writers,
                        seen,
                        unlisted,
                        lambda split, *row: logs[split].add(*row),
                        report,
                        archive_stack,
                        retries,
                        backoff,
                        tmp_dir,
                    )
                    for features in encoded_batches(items, extractor, options, pool, report.seconds):
                        for clip in features:
                            split = clip.item.split if table else None
                            members += 1
                            store_clip(writers[split], logs[split], clip, report.stores[split or "store"])
            except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, DownloadError) as exc:
                report.archive_errors.append(f"{archive}: could not be read to the end ({_reason(exc)})")
                continue
            finally:
                for split, writer in writers.items():
                    writer.commit()
                    logs[split].save()
                if unlisted is not None:
                    unlisted.save()
            failed = [f.clip_id for s, fl in logs.items() for f in fl.entries[failed_before[s] :]]
            if unlisted is not None:
                failed += [f.clip_id for f in unlisted.entries[unlisted_before:]]
            log.finish(archive, members, failed)
            report.archives_done += 1
        for split, writer in writers.items():
            report.stores[split or "store"].failures = len(logs[split])
            report.stores[split or "store"].already_done = (
                len(writer.done_ids) - report.stores[split or "store"].extracted
            )
    report.unlisted = len(unlisted) if unlisted is not None else 0
    report.wall_seconds = time.perf_counter() - start
    for r in report.stores.values():
        r.wall_seconds = report.wall_seconds
    return report


def _archive_items(
    archive: str,
    table: dict[str, ClipRow] | None,
    writers: dict[str | None, FeatureStoreWriter],
    seen: set[str],
    unlisted: FailureLog | None,
    fail: Callable[[str | None, str, Path, str], None],
    report: ArchiveReport,
    stack: ExitStack,
    retries: int,
    backoff: float,
    tmp_dir: str | Path | None,
) -> Iterator[ClipInput]:
    """The members of ``archive`` still to extract, as clips carrying their bytes."""
    shown = filename_from_url(archive) if archive.startswith(("http://", "https://")) else Path(archive).name
    for name, read in _members(archive, stack, retries, backoff, tmp_dir):
        clip_id = member_clip_id(name)
        if clip_id is None:
            continue
        source = Path(shown) / safe_member_path(name)
        if any(clip_id in w for w in writers.values()):
            continue  # stored by an earlier run (or earlier in this one)
        if clip_id in seen:
            report.duplicates += 1
            continue
        seen.add(clip_id)
        row = table.get(clip_id) if table is not None else None
        if table is not None and row is None:
            unlisted.add(clip_id, source, "not in the clip table")
            continue
        split = row.split if row else None
        data = read()
        if data is None:
            fail(split, clip_id, source, f"larger than {MAX_MEMBER_BYTES} bytes: not read into memory")
            continue
        yield ClipInput(clip_id, source, row.labels if row else (), data, split)


def _members(archive: str, stack: ExitStack, retries: int, backoff: float, tmp_dir: str | Path | None):
    """``(member name, read)`` pairs of the regular-file members, in archive order; ``read()`` → bytes or ``None``."""
    remote = archive.startswith(("http://", "https://"))
    if archive.split("?")[0].lower().endswith(".zip"):
        source: Path | BinaryIO = Path(archive)
        if remote:
            try:  # only the index and the members cross the network: nothing on disk
                source = stack.enter_context(open_ranged(archive, retries=retries, backoff=backoff))
            except RangeNotSupported:  # the whole zip, for the time it is read
                folder = Path(tempfile.mkdtemp(prefix="uavm-zip-", dir=tmp_dir))
                stack.callback(shutil.rmtree, folder, True)
                source = download(archive, folder / filename_from_url(archive), progress=False)
        zf = stack.enter_context(zipfile.ZipFile(source))
        for info in zf.infolist():
            if info.is_dir():
                continue
            yield info.filename, (lambda info=info: None if info.file_size > MAX_MEMBER_BYTES else zf.read(info))
        return
    raw = open_stream(archive, retries=retries, backoff=backoff) if remote else open(archive, "rb")
    stack.enter_context(raw)
    stream = stack.enter_context(_decompressed(archive, raw))
    tar = stack.enter_context(tarfile.open(fileobj=stream, mode="r|"))
    for member in tar:
        if not member.isfile():
            continue
        yield (
            member.name,
            lambda member=member: None if member.size > MAX_MEMBER_BYTES else tar.extractfile(member).read(),
        )
    while stream.read(1 << 20):  # to the end: a compressed stream cut short raises EOFError here
        pass


def _decompressed(archive: str, raw: BinaryIO) -> contextlib.AbstractContextManager[BinaryIO]:
    """The tar stream inside ``raw``, decompressed by the module that notices a stream cut short (tarfile does not)."""
    name = archive.split("?")[0].lower()
    if name.endswith((".tar.gz", ".tgz")):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if name.endswith((".tar.bz2", ".tbz2")):
        return bz2.BZ2File(raw, mode="rb")
    if name.endswith((".tar.xz", ".txz")):
        return lzma.LZMAFile(raw, mode="rb")
    return contextlib.nullcontext(raw)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.strip().splitlines()[0]
