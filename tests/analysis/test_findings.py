"""The paper's qualitative findings, reproduced on small models trained by the real trainer.

Synthetic features: every clip has a latent vector drawn around its class prototype;
its audio and visual sequences are two different random linear maps of that latent
(plus per-modality offsets and noise), so the modalities share class structure but
look nothing alike at the input. A unified model (shared upper layers) and an
independent one (depth_s = 0, same total depth) are trained on them; then

* the modality probe on the shared layers is lower for the unified model, and
* cross-modal retrieval at those top layers is higher, and
* the audio and visual attention maps of those layers differ less.

As in the reference's own probe results (its ``modality_cla_summary``), modality
information only fades in the shared layers when they are narrow (small
``s_embed_dim``; full-width shared layers stay ~100 % separable there too), so the
unified model here has shared width 8 under a lower width of 32.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

CLASSES, DIM, STEPS, LATENT = 8, 16, 5, 8


def _write_split(root, name, n, rng, maps):
    protos, a_map, v_map, a_off, v_off = maps
    entries = []
    for i in range(n):
        c = i % CLASSES
        latent = protos[c] + 0.7 * rng.normal(size=LATENT)
        steps = latent + 0.3 * rng.normal(size=(STEPS, LATENT))
        audio = steps @ a_map + a_off + 0.3 * rng.normal(size=(STEPS, DIM))
        visual = steps @ v_map + v_off + 0.3 * rng.normal(size=(STEPS, DIM))
        np.save(root / f"{name}{i}_a.npy", audio.astype(np.float32))
        np.save(root / f"{name}{i}_v.npy", visual.astype(np.float16))
        entries.append(
            {"labels": f"/m/{c}", "afeat": str(root / f"{name}{i}_a.npy"), "vfeat": str(root / f"{name}{i}_v.npy")}
        )
    path = root / f"{name}.json"
    path.write_text(json.dumps({"data": entries}))
    return path


@pytest.mark.slow
def test_unified_shared_layers_are_modality_agnostic_and_retrieve(tmp_path):
    from uavm.analysis.inputs import open_batches
    from uavm.analysis.plots import plot_layer_curves
    from uavm.analysis.runner import AnalysisOptions, run_analyses
    from uavm.models import load_model
    from uavm.train.config import build_config
    from uavm.train.trainer import train

    rng = np.random.default_rng(0)
    maps = (
        rng.normal(size=(CLASSES, LATENT)) * 1.5,
        rng.normal(size=(LATENT, DIM)),
        rng.normal(size=(LATENT, DIM)),
        rng.normal(size=DIM),
        rng.normal(size=DIM),
    )
    labels = tmp_path / "labels.csv"
    labels.write_text("index,mid,display_name\n" + "".join(f"{i},/m/{i},class{i}\n" for i in range(CLASSES)))
    train_file = _write_split(tmp_path, "train", 640, rng, maps)
    test_file = _write_split(tmp_path, "test", 240, rng, maps)

    models = {
        "unified": dict(arch="unified", embed_dim=32, num_heads=2, depth_i=1, depth_s=2, s_embed_dim=8),
        "independent": dict(arch="unified", embed_dim=32, num_heads=2, depth_i=3, depth_s=0),
    }
    summaries = {}
    for name, model_settings in models.items():
        config = build_config(
            dict(
                train=str(train_file),
                test=str(test_file),
                select_on="test",
                labels=str(labels),
                out_dir=str(tmp_path / name),
                model=model_settings,
                lr=1e-3,
                batch_size=32,
                epochs=8,
                lr_start=100,
                mixup=0.0,
                label_smoothing=0.0,
                noise=False,
                balanced=False,
                num_workers=0,
                progress=False,
                device="cpu",
            )
        )
        result = train(config)
        final = open(result.results_csv).read().splitlines()[-1].split(",")
        assert float(final[6]) > 0.8, f"{name} did not learn the task: {final}"  # acc_av
        model = load_model(result.last_model)
        batches = open_batches(test_file, model, labels)
        options = AnalysisOptions(retrieval_per_class=5, progress=False)
        out = tmp_path / f"{name}_analysis"
        summaries[name] = run_analyses(model, batches, out, ["probe", "retrieval", "attention"], options, data_key=name)
        assert summaries[name]["failed"] == []

    shared = [2, 3]  # the unified model's shared blocks; the same depths in the independent model
    probe = {n: s["results"]["probe"]["test_acc"] for n, s in summaries.items()}
    a2v = {n: s["results"]["retrieval"]["a2v_R@5"] for n, s in summaries.items()}
    v2a = {n: s["results"]["retrieval"]["v2a_R@5"] for n, s in summaries.items()}
    for name in models:
        print(f"{name:>11} probe test acc by layer: {[round(probe[name][k], 3) for k in sorted(probe[name])]}")
        print(f"{name:>11} R@5 a->v by layer:        {[round(a2v[name][k], 3) for k in sorted(a2v[name])]}")
        print(f"{name:>11} R@5 v->a by layer:        {[round(v2a[name][k], 3) for k in sorted(v2a[name])]}")
        mad = summaries[name]["results"]["attention"]["mad"]
        print(f"{name:>11} attention |a - v| by block: {[round(mad[k], 4) for k in sorted(mad)]}")
    figures = tmp_path / "figures"
    layers = sorted(probe["unified"])
    plot_layer_curves(
        {n: (layers, [probe[n][k] for k in layers]) for n in models},
        figures / "probe_unified_vs_independent",
        "audio-vs-visual probe accuracy",
        "Modality probe",
        shaded=(2, 3),
        reference=0.5,
    )
    plot_layer_curves(
        {n: (layers, [a2v[n][k] for k in layers]) for n in models},
        figures / "retrieval_unified_vs_independent",
        "R@5 audio → visual",
        "Cross-modal retrieval",
        shaded=(2, 3),
    )
    print(f"figures: {figures} and {tmp_path}/<model>_analysis/")

    def mean(values, keys):
        return float(np.mean([values[k] for k in keys]))

    assert mean(probe["unified"], shared) < mean(probe["independent"], shared) - 0.1
    for retrieval in (a2v, v2a):
        assert mean(retrieval["unified"], shared) > mean(retrieval["independent"], shared) + 0.4
    # the two modalities' attention maps are alike in the shared blocks (the paper's Figure 4)
    mad = {n: s["results"]["attention"]["mad"] for n, s in summaries.items()}
    assert mean(mad["unified"], shared) < 0.5 * mean(mad["independent"], shared)
    # both models tell the modalities apart at their (modality-specific) input
    assert probe["unified"][0] > 0.95 and probe["independent"][0] > 0.95
