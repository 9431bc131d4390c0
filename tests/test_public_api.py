"""The names users import: package namespaces export callables and classes, loaded on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

NAMES = {
    "uavm": [
        "create_model",
        "load_model",
        "save_model",
        "list_models",
        "Predictor",
        "ModelConfig",
        "FeatureSpec",
        "FeatureExtractor",
        "extract",
        "FeatureStore",
        "load_labels",
        "evaluate",
        "read_model_info",
    ],
    "uavm.features": ["fbank", "normalized_fbank", "load_audio", "load_frames", "AudioEncoder", "VisualEncoder"],
    "uavm.media": ["load_audio", "load_frames", "decode_frames", "open_media"],
    "uavm.data": ["LabelSet", "load_labels", "open_dataset", "read_datafile"],
    "uavm.train": ["train", "build_config", "config_from_recipe", "train_audio_encoder", "TrainResult"],
    "uavm.demo": ["run_demo", "make_demo_dataset"],
}


@pytest.mark.parametrize("package", sorted(NAMES))
def test_exported_names_are_the_callables_not_modules(package):
    # a fresh process, every submodule imported first: a submodule of the same name must not win
    code = (
        "import importlib, pkgutil, types, uavm\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(uavm.__path__, 'uavm.'):\n"
        "    if not m.name.startswith(('uavm.cli', 'uavm.serve', 'uavm.__main__')):\n"
        "        importlib.import_module(m.name)\n"
        f"for name in {NAMES[package]!r}:\n"
        "    value = getattr(pkg, name)\n"
        "    assert not isinstance(value, types.ModuleType) or callable(value), (name, value)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_named_imports_of_the_guides_work():
    from uavm.data import LabelSet, load_labels
    from uavm.features import AudioEncoder, VisualEncoder, fbank, load_audio, load_frames
    from uavm.train import train

    assert callable(fbank) and callable(load_audio) and callable(load_frames) and callable(train)
    assert isinstance(load_labels("vggsound"), LabelSet) and AudioEncoder.__name__ == "AudioEncoder"
    assert VisualEncoder.__module__ == "uavm.features.visual_encoder"


def test_uavm_train_is_the_package_and_the_function():
    import uavm
    import uavm.train.trainer

    assert callable(uavm.train) and uavm.train.train is uavm.train.trainer.train


def test_importing_uavm_and_its_namespaces_does_not_import_torch():
    code = "import sys, uavm, uavm.features, uavm.data, uavm.train, uavm.media, uavm.registry; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
