"""The ``vggsound-released`` recipe: the reference's one-click VGGSound run, done right.

Downloads the released pre-extracted features and sample datafiles (the
reference's ``a_feat.zip`` / ``v_feat.zip`` and train / test datafiles) through :mod:`uavm.hub` (resumable, atomic), unpacks the per-clip ``.npy``
files, rewrites the datafiles' cluster paths to the local files (clips whose
files are absent are listed, not fatal), packs both splits into feature stores
with :func:`uavm.extraction.pack.pack_datafile` and trains. Every stage is skipped when its output is already complete, so an
interrupted run picks up where it stopped.
"""

from __future__ import annotations

import logging
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_path, write_text_atomic
from ..data.datafile import read_datafile, rewrite_paths, write_datafile
from ..data.labels import load_labels
from ..errors import UAVMError
from ..extraction.pack import pack_datafile
from ..hub import download, filename_from_url
from ..progress import progress_bar
from ..store import FeatureStore

log = logging.getLogger("uavm.recipes")
COMPLETE = ".complete"

URLS = {
    "audio": "https://www.dropbox.com/s/px08p7zgovh7b3p/a_feat.zip?dl=1",
    "visual": "https://www.dropbox.com/s/qv1umuxg1rq4dzg/v_feat.zip?dl=1",
    "train": "https://www.dropbox.com/s/mnx6e7vt3fyx22p/train_vgg_convnext_2.json?dl=1",
    "test": "https://www.dropbox.com/s/9k7ljjm0hf21wjm/test_vgg_convnext_2.json?dl=1",
}
SPLITS = ("train", "test")
MODALITY_KEYS = {"audio": "afeat", "visual": "vfeat"}

# recipes/vggsound/uavm.yaml, for installs without the repository's recipes folder
PAPER_RECIPE = {
    "dataset": "vggsound",
    "val_fraction": 0.05,
    "select_on": "val",
    "model": {
        "arch": "unified",
        "embed_dim": 1024,
        "s_embed_dim": 0,
        "num_heads": 4,
        "depth_i": 3,
        "depth_s": 3,
        "seq_len": 30,
    },
    "lr": 5.0e-5,
    "batch_size": 144,
    "epochs": 10,
    "scheduler": "multistep",
    "lr_start": 1,
    "lr_step": 1,
    "lr_decay": 0.5,
    "balanced": True,
    "mixup": 0.5,
    "label_smoothing": 0.1,
    "noise": True,
    "feat_norm": True,
    "a_tr_prob": 0.5,
}


@dataclass
class PreparedData:
    """Where the prepared released data lies."""

    stores: dict[str, Path]
    datafiles: dict[str, Path]
    missing: dict[str, int]


def released_urls(mirror: str | None = None) -> dict[str, str]:
    """The artefacts' URLs; with ``mirror``, ``<mirror>/<file name>`` instead of Dropbox."""
    if not mirror:
        return dict(URLS)
    return {k: f"{mirror.rstrip('/')}/{filename_from_url(u)}" for k, u in URLS.items()}


def prepare_vggsound_released(
    root: str | Path,
    *,
    mirror: str | None = None,
    keep_downloads: bool = False,
    progress: bool = True,
    shard_size: int = 4096,
) -> PreparedData:
    """Download, unpack, rewrite and pack the released VGGSound features under ``root``."""
    root = Path(root)
    urls = released_urls(mirror)
    features = {m: root / "features" / m for m in MODALITY_KEYS}
    for modality in MODALITY_KEYS:
        done = features[modality] / ".complete"
        if done.exists():
            continue
        archive = download(urls[modality], root / "downloads" / filename_from_url(urls[modality]), progress=progress)
        unpack_npy_zip(archive, features[modality], progress=progress)
        write_text_atomic(done, "ok\n")
        if not keep_downloads:
            archive.unlink()
    datafiles, missing, stores = {}, {}, {}
    for split in SPLITS:
        source = download(urls[split], root / "downloads" / filename_from_url(urls[split]), progress=progress)
        datafiles[split], missing[split] = rewrite_released_datafile(
            source, root / "datafiles" / f"{split}.json", features["audio"], features["visual"]
        )
        stores[split] = pack_split(
            datafiles[split],
            root / "store" / split,
            len(read_datafile(datafiles[split])),
            shard_size=shard_size,
            progress=progress,
        )
    return PreparedData(stores=stores, datafiles=datafiles, missing=missing)


def is_prepared(root: str | Path) -> bool:
    """Whether both splits' stores under ``root`` are complete."""
    return all((Path(root) / "store" / split / COMPLETE).exists() for split in SPLITS)


def unpack_npy_zip(archive: Path, dest: Path, *, progress: bool = True) -> int:
    """Extract every ``.npy`` member of ``archive`` to ``dest/<file name>`` (folders dropped); returns the count.

    Members already extracted with the right size are skipped (resumable); each file is written atomically.
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UAVMError(f"{archive}: not a readable zip archive ({exc}); delete it to download again") from None
    count = 0
    with zf:
        members = [m for m in zf.infolist() if m.filename.endswith(".npy") and not m.is_dir()]
        for member in progress_bar(members, desc=f"unpack {archive.name}", unit="file", enabled=progress):
            target = dest / Path(member.filename).name
            if target.exists() and target.stat().st_size == member.file_size:
                count += 1
                continue
            with atomic_path(target) as tmp, zf.open(member) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            count += 1
    if not count:
        raise UAVMError(f"{archive}: holds no .npy feature files")
    return count


def rewrite_released_datafile(source: Path, dest: Path, audio_dir: Path, visual_dir: Path) -> tuple[Path, int]:
    """Point the entries at the unpacked files and drop (and list) the clips whose files are absent."""
    entries = rewrite_paths(read_datafile(source), afeat_dir=audio_dir, vfeat_dir=visual_dir, source=source)
    present = [e for e in entries if Path(e.afeat).exists() and Path(e.vfeat).exists()]
    absent = [e.clip_id for e in entries if not (Path(e.afeat).exists() and Path(e.vfeat).exists())]
    if not present:
        raise UAVMError(
            f"{source}: none of its {len(entries)} clips has both feature files under {audio_dir} and {visual_dir}"
        )
    write_datafile(dest, present)
    write_text_atomic(dest.with_name(dest.stem + "_missing.txt"), "".join(f"{c}\n" for c in absent))
    if absent:
        log.warning(
            "%s: %d of %d clips lack feature files (listed in %s)",
            source.name,
            len(absent),
            len(entries),
            dest.with_name(dest.stem + "_missing.txt"),
        )
    return dest, len(absent)


def pack_split(datafile: Path, store: Path, n_clips: int, *, shard_size: int = 4096, progress: bool = True) -> Path:
    """Pack one rewritten split into a VGGSound feature store, once: a complete store of ``n_clips`` is kept."""
    if (store / COMPLETE).exists() and len(FeatureStore(store)) == n_clips:
        return store
    report = pack_datafile(datafile, store, labels=load_labels("vggsound"), shard_size=shard_size, progress=progress)
    if report.failures:
        raise UAVMError(f"{datafile}: {report.failures} clips could not be packed (see {store})")
    write_text_atomic(store / COMPLETE, "ok\n")
    return store
