"""Files written by uavm before the FeatureSpec / registry refactor still load and give the same numbers.

The fixtures in ``tests/fixtures/legacy`` were written by the code of commit d0cdec7
(``make_fixtures.py`` there says how) and are never rewritten.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

import uavm
from uavm.models import read_model_info
from uavm.store import FeatureStore

LEGACY = Path(__file__).parent / "fixtures" / "legacy"


def test_legacy_store_opens_with_its_arrays():
    store = FeatureStore(LEGACY / "store")
    assert len(store) == 2 and store.seq_len == 4 and store.dim == 768
    raw = {m: np.load(LEGACY / "store" / "shard-00000" / f"{m}.npy") for m in ("audio", "visual")}
    got = store.read([0, 1], "visual")
    np.testing.assert_array_equal(np.asarray(got), raw["visual"])
    records = {r.clip_id: r for r in store.records}
    assert records["clip0"].has_audio and not records["clip1"].has_audio


def test_legacy_model_loads_with_identical_outputs_and_info():
    model = uavm.load_model(LEGACY / "model.safetensors")
    ref = np.load(LEGACY / "model_outputs.npz")
    with torch.no_grad():
        for m in ("a", "v"):
            out = model(torch.from_numpy(ref["x"]), m).numpy()
            np.testing.assert_allclose(out, ref[m], rtol=1e-5, atol=1e-6)
    info = read_model_info(LEGACY / "model.safetensors")
    expected = json.loads((LEGACY / "model_info.json").read_text())
    for key in ("audio_encoder", "visual_encoder", "fps", "short_side", "interpolation", "labels"):
        assert info[key] == expected[key]
