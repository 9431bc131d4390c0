"""``uavm export``: a model as a Hugging Face Hub-ready folder.

The folder holds ``model.safetensors`` (the weights, with the model config and
the info that says how its inputs are made in the file's metadata, so
``create_model("hf-hub:ORG/NAME")`` and ``uavm predict --model hf-hub:ORG/NAME``
need nothing else), ``config.json`` (the same facts, readable on the Hub),
``labels.csv`` (``index,mid,display_name``) and ``README.md``, a model card:
architecture, how inputs are made, labels, and the results table when the model
lies in a training run folder (its ``results.csv``). Uploading is the user's
``huggingface-cli upload ORG/NAME DIR``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from .atomic import write_json_atomic, write_text_atomic
from .data.labels import LabelSet, labels_to_info, load_labels
from .errors import ConfigError
from .hub import HUB_WEIGHTS, is_hub_name
from .models import REGISTRY, create_model, load_model, read_model_info, save_model
from .predict import ModelFacts
from .weights import locate

RESULTS_CSV = "results.csv"  # written by the trainer into its run folder


def export_model(model: str | Path, out_dir: str | Path, labels: str | Path | None = None) -> Path:
    """Write the Hub folder of ``model`` (registered name, checkpoint path, URL or ``hf-hub:`` name) to ``out_dir``."""
    spec = str(model)
    facts = ModelFacts.of(spec)
    registered = spec in REGISTRY
    net = create_model(spec, pretrained=True) if registered else load_model(spec)
    info: dict[str, Any] = {} if registered else read_model_info(locate(spec, "model"))
    label_set = load_labels(labels) if labels is not None else facts.labels
    if label_set is None:
        raise ConfigError(f"{spec}: does not record its label set; pass --labels")
    if len(label_set) != net.config.num_classes:
        raise ConfigError(f"{spec}: {net.config.num_classes} classes, but the label set has {len(label_set)}")
    if facts.spec is not None and not info.get("audio_encoder") and not info.get("visual_encoder"):
        info.update(facts.spec.to_dict())
    info.update(labels_to_info(label_set))
    info.setdefault("feat_norm", facts.feat_norm)
    info.setdefault("loss", "bce" if facts.multi_label else "ce")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_model(net, out / HUB_WEIGHTS, info)
    write_text_atomic(out / "labels.csv", _labels_csv(label_set))
    config = {
        "library_name": "uavm",
        "model_config": net.config.to_dict(),
        "features": facts.spec.to_dict() if facts.spec is not None else None,
        "labels": {"source": label_set.source, "num_classes": len(label_set), "file": "labels.csv"},
        "feat_norm": info["feat_norm"],
        "multi_label": info["loss"] == "bce",
        "exported_from": spec if registered or is_hub_name(spec) else Path(spec).name,
    }
    write_json_atomic(out / "config.json", config)
    results = _run_results(spec)
    write_text_atomic(out / "README.md", model_card(config, results))
    return out


def model_card(config: dict[str, Any], results: list[dict[str, str]] | None) -> str:
    """The README of an exported folder: what the model is, what it eats, how to use it, how it scored."""
    model = config["model_config"]
    features = config["features"] or {}
    lines = [
        "---",
        "library_name: uavm",
        "tags: [audio-visual, audio-classification, video-classification, uavm]",
        "---",
        "",
        f"# uavm {model['arch']} model ({config['labels']['num_classes']} classes)",
        "",
        "An audio-visual classifier made with uavm (unified audio-visual models): "
        "one Transformer over audio or visual feature sequences"
        + (", whose upper layers are shared by both modalities." if model["arch"] == "unified" else "."),
        "",
        "## Architecture",
        "",
        "| setting | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in model.items()),
        "",
        "## Inputs: how features are made",
        "",
    ]
    if features:
        lines += [
            "Both tracks are decoded from the media file; the audio is resampled to 16 kHz mono and turned into a "
            "log-mel filterbank, the video sampled at a fixed rate and resized; each goes through its frozen encoder, "
            f"and at most {model['seq_len']} time steps per modality are kept.",
            "",
            "| setting | value |",
            "|---|---|",
            *(f"| {k} | {json.dumps(v) if isinstance(v, (dict, list)) else v} |" for k, v in features.items()),
            "",
        ]
    else:
        lines += [
            "The model file does not record its feature extractors: pass `--audio-encoder` / `--visual-encoder`.",
            "",
        ]
    lines += [
        f"Features are L2-normalised per time step: {config['feat_norm']}; scores are "
        + ("sigmoids (multi-label)." if config["multi_label"] else "a softmax (one label per clip)."),
        "",
        "## Labels",
        "",
        f"{config['labels']['num_classes']} classes ({config['labels']['source'] or 'embedded'}), in `labels.csv`.",
        "",
        "## Use",
        "",
        "```",
        "pip install 'uavm[hub]'",
        "uavm predict --model hf-hub:ORG/NAME clip.mp4",
        "```",
        "",
        "```python",
        "from uavm import create_model",
        'model = create_model("hf-hub:ORG/NAME")',
        "```",
        "",
    ]
    if results:
        columns = list(results[0])
        lines += [
            "## Results",
            "",
            "Per epoch, from the training run's `results.csv`:",
            "",
            "| " + " | ".join(columns) + " |",
            "|" + "---|" * len(columns),
            *("| " + " | ".join(row.get(c, "") for c in columns) + " |" for row in results),
            "",
        ]
    return "\n".join(lines)


def _labels_csv(labels: LabelSet) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("index", "mid", "display_name"))
    writer.writerows((i, mid, name) for i, (mid, name) in enumerate(zip(labels.mids, labels.names)))
    return out.getvalue()


def _run_results(spec: str) -> list[dict[str, str]] | None:
    """The rows of the training run's ``results.csv`` beside a local model file, if there is one."""
    if spec in REGISTRY or is_hub_name(spec) or "://" in spec:
        return None
    results = Path(spec).expanduser().parent / RESULTS_CSV
    if not results.is_file():
        return None
    with open(results, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
