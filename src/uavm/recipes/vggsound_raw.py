"""The ``vggsound-raw`` recipe: VGGSound from a mirror of its media archives to a trained, evaluated model.

VGGSound can no longer be downloaded from its origin; community mirrors ship the
clips as about 20 ``tar.gz`` archives (``vggsound_00.tar.gz`` ... ``vggsound_19.tar.gz``,
~335 GB) beside ``vggsound.csv``. This recipe fetches the CSV, streams every
archive through :func:`uavm.extraction.archives.extract_archives` (nothing is
unpacked to disk; the CSV gives labels and routes clips to ``store/train`` and
``store/test``), then the caller trains and evaluates on the stores. Every stage
resumes: finished archives are skipped, a half-read one continues by member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_text_atomic
from ..data.labels import load_labels
from ..errors import ConfigError, UAVMError
from ..extraction.archives import ArchiveReport, archive_list, extract_archives, read_vggsound_csv
from ..extraction.extractor import FeatureExtractor
from ..extraction.pipeline import ExtractOptions
from ..feature_spec import FeatureSpec
from ..hub import download

CLIP_TABLE = "vggsound.csv"
ARCHIVES = tuple(f"vggsound_{i:02d}.tar.gz" for i in range(20))  # how the mirrors name them
SPLITS = ("train", "test")
COMPLETE = ".complete"


@dataclass
class RawPrepared:
    """The stores made from the archives, and what the extraction did."""

    stores: dict[str, Path]
    report: ArchiveReport | None  # None: found complete, nothing run


def archive_urls(mirror: str, archives: Sequence[str] | str | Path | None = None) -> list[str]:
    """The archives' URLs: ``<mirror>/<name>`` for each name (a URL is kept as it is).

    ``archives``: names, or a text file listing them (one a line); default the 20 mirror names.
    """
    if archives is None:
        names: list[str] = list(ARCHIVES)
    elif isinstance(archives, (str, Path)):
        try:
            lines = Path(archives).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{archives}: unreadable archive list ({exc})") from None
        names = [n.strip() for n in lines if n.strip() and not n.strip().startswith("#")]
    else:
        names = list(archives)
    urls = [n if n.startswith(("http://", "https://")) else f"{mirror.rstrip('/')}/{n.lstrip('/')}" for n in names]
    return archive_list(urls)


def is_prepared(root: str | Path) -> bool:
    """Whether the archives have all been extracted into ``root/store``."""
    return (Path(root) / "store" / COMPLETE).exists()


def prepare_vggsound_raw(
    root: str | Path,
    mirror: str,
    *,
    archives: Sequence[str] | str | Path | None = None,
    features: FeatureSpec | FeatureExtractor | None = None,
    options: ExtractOptions | None = None,
    progress: bool = True,
) -> RawPrepared:
    """Fetch ``vggsound.csv`` and extract every archive of ``mirror`` into ``root/store/{train,test}``."""
    root = Path(root)
    stores = {split: root / "store" / split for split in SPLITS}
    if is_prepared(root):
        return RawPrepared(stores, None)
    if not mirror:
        raise ConfigError("vggsound-raw needs --mirror URL_PREFIX (where vggsound.csv and the archives are)")
    table_path = download(f"{mirror.rstrip('/')}/{CLIP_TABLE}", root / "downloads" / CLIP_TABLE, progress=progress)
    labels = load_labels("vggsound")
    table = read_vggsound_csv(table_path, labels)
    report = extract_archives(archive_urls(mirror, archives), root / "store", features, options, labels, table)
    if report.archive_errors:
        raise UAVMError(f"{report.archive_errors[0]}; run the recipe again to resume")
    for split, store in stores.items():
        if not store.is_dir():
            raise UAVMError(f"{mirror}: no {split} clip of {CLIP_TABLE} was found in the archives")
    write_text_atomic(root / "store" / COMPLETE, "ok\n")
    return RawPrepared(stores, report)
