"""Three-way evaluation (audio, visual, audio+visual) and the VGGSounder export.

Unified / independent models see one modality at a time; audio+visual is the
mean of the two logit vectors. The cross-attention model always sees
both for audio+visual; its audio-only (visual-only) scores are computed with the
other modality's features replaced by zeros — the reference reported the fused
score three times instead. The views are scored by :func:`uavm.models.views.view_logits`,
as prediction and the timeline score them.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_path
from ..data.dataset import EvalBatches, FeatureDataset
from ..data.labels import LabelSet
from ..errors import UAVMError
from ..modality import VIEWS
from ..models.views import view_logits
from ..progress import progress_bar
from .checkpointing import _unwrap
from .distributed import DistInfo, gather_rows, shard_range
from .metrics import classification_metrics

RESULT_COLUMNS = ["acc_a", "mAP_a", "mAUC_a", "acc_v", "mAP_v", "mAUC_v", "acc_av", "mAP_av", "mAUC_av"]
VGGSOUNDER_CLASSES = 309


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, batches: Iterable[dict], device: torch.device, *, bf16: bool = False
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Float32 logits ``{"a", "v", "av": [N, C]}`` (CPU) and the clip indices of the batches, in order."""
    model = _unwrap(model)
    was_training = model.training
    model.eval()
    out: dict[str, list[torch.Tensor]] = {m: [] for m in VIEWS}
    index = []
    try:
        for batch in batches:
            a = batch["a"].to(device, non_blocking=True)
            v = batch["v"].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                scores = view_logits(model, a, v)
            scores = {m: s.float() for m, s in scores.items()}
            for m in VIEWS:
                out[m].append(scores[m].cpu())
            index.append(batch["index"])
    finally:
        model.train(was_training)
    return {m: torch.cat(v) for m, v in out.items()}, torch.cat(index)


def evaluate(
    model: torch.nn.Module,
    dataset: FeatureDataset,
    *,
    batch_size: int = 256,
    feat_norm: bool = True,
    device: torch.device | str | None = None,
    num_workers: int = 0,
    bf16: bool = False,
    dist_info: DistInfo | None = None,
    progress: bool = False,
    desc: str = "eval",
) -> dict[str, Any]:
    """Metrics of ``model`` on ``dataset`` three ways, with the logits.

    Returns ``{"a"|"v"|"av": {"acc", "mAP", "mAUC", "d_prime"}, "logits": {"a"|"v"|"av": [N, C]},
    "targets": [N, C], "clip_ids": [N]}`` (NumPy arrays). ``feat_norm`` must match training.
    Under DDP every rank scores its share and all ranks get the full result.
    """
    if hasattr(model, "config"):
        from ..data.dataset import check_input_widths

        check_input_widths(model.config, dataset, "the model", dataset.name)
    info = dist_info or DistInfo(device=torch.device(device) if device else _model_device(model))
    start, stop = shard_range(len(dataset), info)
    batches = EvalBatches(dataset, batch_size, normalise=feat_norm, start=start, stop=stop)
    loader = torch.utils.data.DataLoader(
        batches, batch_size=None, num_workers=num_workers, pin_memory=info.device.type == "cuda"
    )
    shown = progress_bar(
        batches.checked(loader), total=len(batches), desc=desc, enabled=progress and info.is_main, summary=False
    )
    logits, index = predict_logits(model, shown, info.device, bf16=bf16)
    index = gather_rows(index, info).numpy()
    logits = {m: gather_rows(x, info).numpy() for m, x in logits.items()}
    order = np.argsort(index, kind="stable")
    logits = {m: x[order] for m, x in logits.items()}
    targets = dataset.targets()
    result: dict[str, Any] = {m: classification_metrics(logits[m], targets) for m in VIEWS}
    result.update(logits=logits, targets=targets, clip_ids=list(dataset.clip_ids))
    return result


def result_row(result: dict[str, Any]) -> dict[str, float]:
    """The reference's per-epoch columns ``acc_a, mAP_a, mAUC_a, ..., mAUC_av`` of an evaluation."""
    return {f"{k}_{m}": float(result[m][k]) for m in VIEWS for k in ("acc", "mAP", "mAUC")}


def summary(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The metrics of an evaluation without the logits (JSON-ready)."""
    return {m: {k: float(v) for k, v in result[m].items()} for m in VIEWS}


def vggsounder_class_names(labels: LabelSet) -> list[str]:
    """VGGSound class names as the VGGSounder benchmark spells them (commas, not the CSV's underscores)."""
    if len(labels) != VGGSOUNDER_CLASSES:
        raise UAVMError(f"the VGGSounder export needs the 309 VGGSound classes; this model has {len(labels)}")
    return [name.replace("_", ",") for name in labels.names]


def export_vggsounder(result: dict[str, Any], labels: LabelSet, path: str | Path, *, top_k: int = 1) -> Path:
    """Write the VGGSounder benchmark pickle of an evaluation, atomically.

    ``{video_id: {"predictions": {"a"|"v"|"av": [top_k class names]}, "logits": {"a"|"v"|"av": [309 floats]}}}``.
    """
    names = vggsounder_class_names(labels)
    payload = {}
    for row, clip in enumerate(result["clip_ids"]):
        scores = {m: result["logits"][m][row] for m in VIEWS}
        payload[clip] = {
            "predictions": {m: [names[i] for i in np.argsort(-s, kind="stable")[:top_k]] for m, s in scores.items()},
            "logits": {m: [float(x) for x in s] for m, s in scores.items()},
        }
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _model_device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")
