"""The batched device step (``TrainBatches.finish``) makes the batches the per-batch numpy path made.

The oracle is the previous implementation, kept here in a few lines: read float32 rows per
modality (rolled), normalise, mix the mixed rows, build targets row by row.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from uavm.data.dataset import StoreDataset, TrainBatches, plan_epoch
from uavm.data.labels import load_labels
from uavm.data.sampling import balanced_weights
from uavm.data.transforms import AugmentConfig
from uavm.store import FeatureStoreWriter


def _oracle(ds, plan, step, config, num_classes):
    indices, aug, modality = plan.batch(step)
    out = {"modality": modality}
    rows = np.flatnonzero(aug.mixed)
    lam = torch.from_numpy(aug.lam[rows]).float().view(-1, 1, 1)
    for m in ("a", "v"):
        if m not in modality:
            continue
        x = torch.from_numpy(ds.read(indices, m, aug.shift)).float()
        x = F.normalize(x, dim=-1) if config.feat_norm else x
        if len(rows):
            p = torch.from_numpy(ds.read(aug.partner[rows], m, aug.shift[rows])).float()
            p = F.normalize(p, dim=-1) if config.feat_norm else p
            x[rows] = lam * x[rows] + (1 - lam) * p
        out[m] = x
    eps = config.label_smoothing
    t = np.full((len(indices), num_classes), eps / num_classes)
    for r, clip in enumerate(indices):
        if aug.mixed[r]:
            for k in ds.label_indices[clip]:
                t[r, k] += aug.lam[r] * (1 - eps)
            for k in ds.label_indices[aug.partner[r]]:
                t[r, k] += (1 - aug.lam[r]) * (1 - eps)
        else:
            t[r, ds.label_indices[clip]] = 1 - eps
    out["targets"] = torch.from_numpy(t.astype(np.float32))
    return out


@pytest.fixture(scope="module")
def store_dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("batch") / "store"
    rng = np.random.default_rng(3)
    labels = load_labels("vggsound")
    with FeatureStoreWriter(path, seq_len=12, dim=16, shard_size=9) as w:
        for i in range(60):
            mids = [f"vgg_{k}" for k in rng.choice(5, size=1 + i % 3, replace=i % 4 != 0)]  # repeats too
            audio = rng.standard_normal((12, 16)) * (0 if i == 7 else 1)  # one all-zero clip
            visual = rng.standard_normal((int(rng.integers(5, 14)), 16))
            w.add(f"c{i}", "s", mids, audio, visual)
    return StoreDataset(path, labels)


CONFIGS = [
    AugmentConfig(mixup=0.5, label_smoothing=0.1, noise=True, feat_norm=True),
    AugmentConfig(mixup=0.0, label_smoothing=0.0, noise=False, feat_norm=True),
    AugmentConfig(mixup=1.0, label_smoothing=0.2, noise=True, feat_norm=False),
]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("both", [False, True])
@pytest.mark.parametrize("block_rows", [None, 3])
@pytest.mark.parametrize("roll_on_device", [False, True])
def test_finished_batches_equal_the_previous_path(
    store_dataset, config, both, device, block_rows, roll_on_device, monkeypatch
):
    ds = store_dataset
    if block_rows:  # a CPU handles a batch in cache-sized blocks: also when blocks split the batch
        monkeypatch.setattr("uavm.data.transforms.CACHE_BLOCK_BYTES", block_rows * ds.seq_len * 16 * 4)
    batches = TrainBatches(ds, config, roll_on_device=roll_on_device)
    weights = balanced_weights(ds.label_indices, len(ds.labels))
    batches.plan = plan_epoch(
        len(ds), batch_size=16, epoch=2, seed=4, augment=config, weights=weights, both_modalities=both
    )
    for step in range(len(batches)):
        raw = batches[step]
        assert all(raw[m].dtype == torch.float16 for m in ("a", "v") if m in raw)  # the loader moves float16
        if device == "cuda":
            raw = {k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in raw.items()}
        got = batches.finish(raw, device)
        want = _oracle(ds, batches.plan, step, config, len(ds.labels))
        assert got["modality"] == want["modality"] and set(got) == set(want)
        for key in set(want) - {"modality"}:
            assert got[key].device.type == device and got[key].dtype == torch.float32
            if device == "cpu":  # the same float32 operations on the same values: bit for bit
                assert torch.equal(got[key], want[key]), key
            else:
                torch.testing.assert_close(got[key].cpu(), want[key], rtol=2e-6, atol=1e-7)
