"""Weight files: find, read, save, and fetch-and-convert registered weights once.

- :func:`locate` turns what a user names (a registry name, a Hugging Face Hub
  name ``hf-hub:ORG/NAME``, an ``http(s)://`` or ``file://`` URL, a path) into a local file. It is the one place a new naming
  scheme (such as a model hub) plugs in.
- :func:`read_weights` reads our safetensors files and PyTorch pickles (with
  ``weights_only``: a pickle that would run code is refused) into a state_dict
  and the file's metadata; a bad file is a one-line :class:`CheckpointError`.
- :func:`save_weights` writes a state_dict as safetensors with metadata, atomically.
- :func:`build_loaded` builds a network on the meta device (no random
  initialisation) and assigns the loaded tensors to it.

The cache (``$UAVM_CACHE``, see :func:`uavm.hub.cache_dir`) holds registered
weights converted to safetensors in ``models/<name>.safetensors``; released files
are downloaded into ``downloads/`` (resumably, see :mod:`uavm.hub`) and deleted
once converted. Files named by URL are kept as downloaded in ``downloads/``.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from . import registry
from .atomic import atomic_path
from .errors import CheckpointError
from .hub import cache_dir, download, filename_from_url, hub_file, is_hub_name

URL_SCHEMES = ("http://", "https://", "file://")
Converter = Callable[["registry.PretrainedCfg", Path, Path], object]  # (entry, released file, destination)
Module = TypeVar("Module", bound=nn.Module)


# ----------------------------------------------------------------- names → files


def locate(spec: str | Path, kind: str, convert: Converter | None = None) -> Path:
    """The local weights file ``spec`` names, for a network of ``kind`` (see :data:`uavm.registry.KINDS`).

    A registry name of that kind is downloaded and converted by ``convert`` once
    (:func:`cached_file`); a URL is downloaded once; a path is returned as it is.
    A file that does not exist is a :class:`CheckpointError` listing the registry names.
    """
    text = str(spec)
    entry = registry.find(text, kind)
    if entry is not None:
        if convert is None:
            raise ValueError(f"{text}: a registered {kind} needs a converter for its released file")
        return cached_file(entry, convert)
    if is_hub_name(text):  # hf-hub:ORG/NAME: the repository's model.safetensors, cached by huggingface_hub
        return hub_file(text)
    if text.startswith(URL_SCHEMES):
        return download(text, cache_dir() / "downloads" / filename_from_url(text))
    path = Path(text).expanduser()
    if not path.is_file():
        names = ", ".join(registry.list_names(kind))
        raise CheckpointError(f"{path}: no such file (registered {kind.replace('_', ' ')}s: {names})")
    return path


def cached_file(entry: registry.PretrainedCfg, convert: Converter) -> Path:
    """``models/<name>.safetensors`` in the cache: on first use the released file is
    downloaded into ``downloads/``, converted by ``convert(entry, released, destination)`` and deleted."""
    target = cache_dir() / "models" / f"{entry.name}.safetensors"
    if target.is_file():
        return target
    released = download(entry.url, cache_dir() / "downloads" / filename_from_url(entry.url))
    convert(entry, released, target)
    released.unlink(missing_ok=True)  # another process converting the same entry may have removed it
    return target


# ----------------------------------------------------------------- reading


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(state_dict with ``module.`` prefixes dropped, metadata) of a safetensors file or a pickled state_dict.

    Pickles are loaded with ``weights_only=True``; a ``{"state_dict": ...}`` wrapper is
    unwrapped. Pickles have no metadata (``{}``).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if is_safetensors(path):
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc
        metadata = read_metadata(path)
    else:
        state, metadata = _read_pickle(path), {}
    return {key.removeprefix("module."): value for key, value in state.items()}, metadata


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a safetensors file (``{}`` for other files), without reading the tensors."""
    path = Path(path)
    if not is_safetensors(path):
        return {}
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc


def is_safetensors(path: Path) -> bool:
    """By suffix, else by the header: 8-byte little-endian length, then a JSON object."""
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 28)


def _read_pickle(path: Path) -> Mapping[str, torch.Tensor]:
    obj = load_tensors_only(path)
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        found = f"a {type(obj).__name__}" if not isinstance(obj, Mapping) else "a mapping with non-tensor values"
        raise CheckpointError(f"{path}: not a checkpoint (expected a state_dict of tensors, found {found})")
    return obj


# ----------------------------------------------------------------- torch.load, the one call


def load_tensors_only(path: str | Path, map_location: str | torch.device = "cpu", what: str = "checkpoint") -> Any:
    """``torch.load`` with ``weights_only=True``; a refused or unreadable file is one line naming it."""
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such {what}") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for refused, corrupt or foreign files
        raise CheckpointError(f"{path}: {load_problem(exc, path, what)}") from None


def load_problem(exc: BaseException, path: str | Path | None = None, what: str = "checkpoint") -> str:
    """One line for why ``torch.load`` failed, without torch's advice to load with ``weights_only=False``."""
    text = str(exc)
    complaint = re.search(r"WeightsUnpickler error:(.*)", text)
    is_archive = path is not None and Path(path).is_file() and zipfile.is_zipfile(path)
    if isinstance(exc, pickle.UnpicklingError) and (
        "GLOBAL" in text
        or (complaint and complaint.group(1).strip())
        or (is_archive and "Weights only load failed" in text)
    ):
        # the unpickler stopped at something that is not a tensor: that is a refusal, not a bad file
        found = re.search(r"GLOBAL ([\w.]+)", text)
        named = f" ({found.group(1)})" if found else ""
        return (
            f"refused: the file holds pickled objects other than tensors{named}, "
            "and loading them could run code; use a safetensors or tensors-only file"
        )
    if path is not None and Path(path).is_file() and not is_archive:
        return f"not a readable {what}: not a checkpoint file (neither a PyTorch archive nor safetensors), or truncated"
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    if "weights_only" in first or "Weights only" in first:  # torch's advice, never shown
        first = "the tensors-only unpickler could not read it"
    return f"not a readable {what} ({type(exc).__name__}: {first})"


# ----------------------------------------------------------------- writing


def save_weights(path: str | Path, state: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> Path:
    """Write ``state`` (moved to CPU, made contiguous) as safetensors with string ``metadata``, atomically."""
    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=dict(metadata))
    return path


# ----------------------------------------------------------------- building


def build_loaded(
    build: Callable[[], Module],
    state: Mapping[str, torch.Tensor],
    source: str,
    what: str = "network",
    check: Callable[[Module], object] | None = None,
) -> Module:
    """``build()`` on the meta device (no random init), then ``state`` assigned to it (strict).

    ``check(module)`` may raise a clearer error than ``load_state_dict`` before anything is assigned.

    Buffers outside the state_dict must be created with an explicit device in
    ``build`` (they would stay on the meta device otherwise: an error here).
    """
    with torch.device("meta"):
        module = build()
    if check is not None:
        check(module)
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        lines = str(exc).strip().splitlines()
        raise CheckpointError(f"{source}: does not fit a {what} ({' '.join(lines[:3])})") from exc
    left = [name for name, t in (*module.named_parameters(), *module.named_buffers()) if t.is_meta]
    if left:
        raise CheckpointError(f"{source}: no weights for {', '.join(left[:5])} of the {what}")
    return module
