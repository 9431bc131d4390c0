"""``uavm demo``: the whole pipeline on a generated dataset, offline, on a laptop CPU.

generate mp4 clips → extract audio and visual features (small ConvNeXt encoders with
seeded random weights: nothing to download) → feature stores → train the unified,
independent and cross-attention models → three-way evaluation → analyses → a report.
Every stage is the library's real code; the demo only chooses small sizes.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic
from ..data.labels import load_labels
from ..errors import UAVMError
from ..extraction.extractor import FeatureExtractor
from ..extraction.inputs import read_inputs
from ..extraction.pipeline import ExtractOptions, extract
from ..feature_spec import FeatureSpec
from ..modality import VIEWS
from .dataset import SPLITS, make_demo_dataset
from .report import Figure, Report, Table

ARCHS = ("unified", "independent", "cross_attention")


@dataclass
class DemoOptions:
    """Sizes of the demo; the defaults finish in a few minutes on 2 CPU cores."""

    n_classes: int = 8
    clips_per_class: int = 20
    seconds: float = 10.0  # VGGSound-like: a full 990-frame fbank, 30 video frames
    audio_encoder: str = "random:tiny:0"
    visual_encoder: str = "random:tiny:1"
    short_side: int = 64
    embed_dim: int = 64
    num_heads: int = 4
    depth_i: int = 2
    depth_s: int = 2
    epochs: int = 40
    batch_size: int = 8
    lr: float = 1e-3
    analyses: bool = True
    analysis_names: tuple[str, ...] = ("probe", "tsne", "retrieval", "attention")
    workers: int = 2
    seed: int = 0
    progress: bool = True


def quick_options() -> DemoOptions:
    """The reduced demo CI runs: the same stages on fewer clips and epochs, without t-SNE."""
    return DemoOptions(clips_per_class=10, epochs=30, analysis_names=("probe", "retrieval", "attention"))


@dataclass
class DemoResult:
    out_dir: Path
    report_md: Path
    report_html: Path
    test: dict[str, dict[str, float]]  # arch -> {"acc_a": ..., "acc_v": ..., "acc_av": ...}
    seconds: dict[str, float] = field(default_factory=dict)


def run_demo(out_dir: str | Path, options: DemoOptions | None = None) -> DemoResult:
    """Run every stage into ``out_dir`` and write the report; stages already done are reused."""
    opts = options or DemoOptions()
    out = Path(out_dir)
    seconds: dict[str, float] = {}

    t = time.perf_counter()
    data = make_demo_dataset(
        out / "data",
        n_classes=opts.n_classes,
        clips_per_class=opts.clips_per_class,
        seconds=opts.seconds,
        seed=opts.seed,
        progress=opts.progress,
    )
    seconds["generate"] = time.perf_counter() - t

    t = time.perf_counter()
    labels = load_labels(data["labels"])
    extractor = FeatureExtractor(FeatureSpec(opts.audio_encoder, opts.visual_encoder, short_side=opts.short_side))
    stores = {}
    for split in SPLITS:
        stores[split] = out / "features" / split
        report = extract(
            read_inputs(data[split]),
            stores[split],
            extractor,
            ExtractOptions(workers=opts.workers, progress=opts.progress),
            labels=labels,
        )
        if report.failures:
            raise UAVMError(f"demo extraction failed for {report.failures} clips: {report.store}/failures.csv")
    seconds["extract"] = time.perf_counter() - t

    t = time.perf_counter()
    runs = {arch: _train(arch, stores, data["labels"], out / "runs" / arch, opts) for arch in ARCHS}
    seconds["train"] = time.perf_counter() - t

    t = time.perf_counter()
    analyses = {}
    if opts.analyses:
        for arch in ("unified", "independent"):
            analyses[arch] = _analyse(
                runs[arch].best_model, stores["test"], data["labels"], out / "analysis" / arch, opts
            )
    seconds["analyse"] = time.perf_counter() - t

    test = {arch: _test_row(run) for arch, run in runs.items()}
    md, page = _report(out, opts, test, runs, analyses, seconds)
    write_json_atomic(out / "results.json", {"test": test, "seconds": seconds, "options": asdict(opts)})
    return DemoResult(out, md, page, test, seconds)


def _train(arch: str, stores: dict[str, Path], labels: Path, out: Path, opts: DemoOptions):
    from ..train.config import TrainConfig
    from ..train.trainer import train

    config = TrainConfig(
        train=str(stores["train"]),
        val=str(stores["val"]),
        test=str(stores["test"]),
        labels=str(labels),
        out_dir=str(out),
        model={
            "arch": arch,
            "embed_dim": opts.embed_dim,
            "num_heads": opts.num_heads,
            "depth_i": opts.depth_i,
            "depth_s": opts.depth_s,
        },
        lr=opts.lr,
        batch_size=opts.batch_size,
        epochs=opts.epochs,
        lr_start=opts.epochs // 2,
        lr_step=max(1, opts.epochs // 4),
        num_workers=0,
        eval_batch_size=64,
        seed=opts.seed,
        device="cpu",
        progress=opts.progress,
    )
    if out.exists():  # the demo's own folder: a re-run trains afresh
        shutil.rmtree(out)
    return train(config)


def _test_row(run) -> dict[str, float]:
    row = next(r for r in run.history if r["epoch"] == run.best_epoch)
    return {f"{metric}_{view}": 100 * row["test"][view][metric] for view in VIEWS for metric in ("acc", "mAP")}


def _analyse(checkpoint: Path, store: Path, labels: Path, out: Path, opts: DemoOptions) -> dict[str, Any]:
    from ..analysis.inputs import open_batches, open_model
    from ..analysis.runner import AnalysisOptions, run_analyses

    model = open_model(str(checkpoint))
    batches = open_batches(store, model, labels, batch_size=64)
    options = AnalysisOptions(
        seed=opts.seed, tsne_clips=None, tsne_perplexity=10.0, retrieval_per_class=None, progress=opts.progress
    )
    return run_analyses(model, batches, out, opts.analysis_names, options=options, data_key=f"{checkpoint}:{store}")


def _report(out: Path, opts: DemoOptions, test: dict, runs: dict, analyses: dict, seconds: dict) -> tuple[Path, Path]:
    report = Report("uavm demo: unified audio-visual models on a generated event dataset")
    intro = report.section("What ran")
    intro.append(
        f"{opts.n_classes} classes × {opts.clips_per_class} clips of {opts.seconds:g} s were written as h264 + aac mp4 "
        "files. Each class is a (colour, sound) pair; every colour is shared by two classes and every sound by two "
        "others, so the picture alone or the sound alone can at best tell a class from one neighbour (50 %), "
        "while both together identify it. Features came from ConvNeXt-tiny encoders with seeded random weights "
        f"(audio: log-mel fbank; visual: 3 frames/s, short side {opts.short_side} px). Three models "
        f"(embed {opts.embed_dim}, {opts.num_heads} heads, {opts.depth_i} modality-specific + {opts.depth_s} upper "
        f"layers) were trained for {opts.epochs} epochs; the best epoch was chosen on the validation split."
    )
    results = report.section("Test accuracy (best validation epoch)")
    rows = [
        [arch, test[arch]["acc_a"], test[arch]["acc_v"], test[arch]["acc_av"], test[arch]["mAP_av"]] for arch in test
    ]
    results.append(Table(["model", "audio acc %", "visual acc %", "fused acc %", "fused mAP %"], rows))
    results.append(
        "For cross_attention the fusion model sees both modalities; its audio and visual columns come "
        "from the same joint model fed one modality with the other set to zeros (see the trainer docs)."
    )
    for arch, run in runs.items():
        plots = sorted(Path(run.out_dir).glob("*.png"))
        for plot in plots:
            results.append(Figure(plot, f"{arch}: {plot.stem.replace('_', ' ')} per epoch"))
    if analyses:
        section = report.section("Analyses (test split): unified vs independent")
        for arch, summary in analyses.items():
            probe = summary.get("results", {}).get("probe", {}).get("test_acc")
            if probe:
                section.append(
                    f"{arch}: modality-probe accuracy per layer "
                    + ", ".join(f"layer {k}: {100 * v:.0f} %" for k, v in probe.items())
                )
            for name in ("probe", "retrieval", "attention_difference", "tsne"):
                for png in sorted((out / "analysis" / arch).glob(f"{name}*.png")):
                    section.append(Figure(png, f"{arch}: {png.stem.replace('_', ' ')}"))
    timing = report.section("Time")
    timing.append(", ".join(f"{stage} {s:.0f} s" for stage, s in seconds.items()))
    return report.write(out)


def main_json(result: DemoResult) -> str:
    """A short machine-readable summary of a demo run."""
    return json.dumps({"report": str(result.report_html), "test": result.test, "seconds": result.seconds}, indent=2)
