import json

import numpy as np
import pytest
import torch

from uavm.data.dataset import (
    DatafileDataset,
    EvalBatches,
    StoreDataset,
    TrainBatches,
    open_dataset,
    plan_epoch,
    split_validation,
)
from uavm.data.labels import load_labels
from uavm.data.sampling import balanced_weights
from uavm.data.synthetic import write_synthetic
from uavm.data.transforms import AugmentConfig
from uavm.errors import ConfigError, UAVMError
from uavm.store import FeatureStoreWriter


@pytest.fixture
def synthetic(tmp_path):
    paths = write_synthetic(tmp_path / "syn", {"train": 40, "test": 12}, dim=6, seq_len=5)
    return paths, load_labels(paths["labels"])


def _store_from(datafile_ds, path):
    with FeatureStoreWriter(path, seq_len=datafile_ds.seq_len, dim=datafile_ds.dim("a"), shard_size=7) as w:
        for i, clip in enumerate(datafile_ds.clip_ids):
            w.add(
                clip,
                "syn",
                [datafile_ds.labels.mids[k] for k in datafile_ds.label_indices[i]],
                datafile_ds.load(i, "a"),
                datafile_ds.load(i, "v"),
            )
    return path


def test_datafile_dataset_pads_and_cuts(tmp_path):
    labels = load_labels("vggsound")
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    v = np.ones((5, 4), dtype=np.float16)
    np.save(tmp_path / "c1_a.npy", a)
    np.save(tmp_path / "c1_v.npy", v)
    (tmp_path / "d.json").write_text(
        json.dumps({"data": [{"labels": "vgg_3,vgg_7", "afeat": str(tmp_path / "c1_a.npy"), "vfeat": "c1_v.npy"}]})
    )
    ds = DatafileDataset(tmp_path / "d.json", labels, seq_len=4)
    assert len(ds) == 1 and ds.label_indices == [[3, 7]] and ds.dim("a") == 4
    np.testing.assert_array_equal(ds.read(np.array([0]), "a")[0], np.vstack([a, np.zeros((1, 4))]))
    assert ds.read(np.array([0, 0]), "v").shape == (2, 4, 4)  # cut from 5 steps, resolved beside the datafile
    assert ds.targets()[0, [3, 7]].tolist() == [1, 1] and ds.targets().sum() == 2


def test_missing_feature_file_found_on_open(tmp_path):
    (tmp_path / "d.json").write_text(
        json.dumps({"data": [{"labels": "vgg_1", "afeat": "/nope/x.npy", "vfeat": "/nope/x.npy"}]})
    )
    with pytest.raises(UAVMError, match="1 clip\\(s\\) lack their audio feature file.*x.npy"):
        DatafileDataset(tmp_path / "d.json", load_labels("vggsound"))


def test_unknown_label_names_the_entry(tmp_path):
    (tmp_path / "d.json").write_text(json.dumps({"data": [{"labels": "nonsense", "afeat": "a", "vfeat": "b"}]}))
    with pytest.raises(UAVMError, match="d.json entry 0: label 'nonsense'"):
        DatafileDataset(tmp_path / "d.json", load_labels("vggsound"), check=False)


def test_store_and_datafile_read_the_same(synthetic, tmp_path):
    paths, labels = synthetic
    per_clip = DatafileDataset(paths["train"], labels, seq_len=5)
    store = StoreDataset(_store_from(per_clip, tmp_path / "store"), labels)
    assert isinstance(open_dataset(tmp_path / "store", labels, 5), StoreDataset)
    assert isinstance(open_dataset(paths["train"], labels, 5), DatafileDataset)
    assert store.clip_ids == per_clip.clip_ids and store.label_indices == per_clip.label_indices
    idx = np.array([3, 0, 39, 3, 17])
    for m in ("a", "v"):
        np.testing.assert_allclose(
            store.read(idx, m).astype(np.float32), per_clip.read(idx, m).astype(np.float16).astype(np.float32)
        )
    with pytest.raises(ConfigError, match="not a datafile"):
        open_dataset(tmp_path / "nothing.txt", labels)


def test_validation_split_is_seeded_and_disjoint(synthetic):
    paths, labels = synthetic
    ds = DatafileDataset(paths["train"], labels, seq_len=5)
    train, val = split_validation(ds, 0.25, seed=3)
    again, _ = split_validation(ds, 0.25, seed=3)
    assert len(val) == 10 and len(train) == 30 and train.clip_ids == again.clip_ids
    assert not set(train.clip_ids) & set(val.clip_ids)
    k = 4
    np.testing.assert_array_equal(val.read(np.array([k]), "a"), ds.read(np.array([val.index[k]]), "a"))
    assert split_validation(ds, 0.25, seed=4)[1].clip_ids != val.clip_ids


def test_epoch_plan():
    aug = AugmentConfig(mixup=0.5, noise=True)
    w = balanced_weights([[0]] * 90 + [[1]] * 10, 2)
    plan = plan_epoch(100, batch_size=16, epoch=2, seed=0, augment=aug, weights=w, a_tr_prob=0.5)
    same = plan_epoch(100, batch_size=16, epoch=2, seed=0, augment=aug, weights=w, a_tr_prob=0.5)
    assert plan.steps == 6 and len(plan.indices) == 96
    assert np.array_equal(plan.indices, same.indices) and plan.modalities == same.modalities
    assert set(plan.modalities) <= {"a", "v"}
    both = plan_epoch(100, batch_size=16, epoch=2, seed=0, augment=aug, both_modalities=True)
    assert both.modalities == ["av"] * 6
    # balanced: the rare class fills about half of the draws
    many = plan_epoch(100, batch_size=1, epoch=0, seed=0, augment=aug, weights=w)
    assert (many.indices >= 90).mean() == pytest.approx(0.5, abs=0.15)
    # rank shares interleave into the global batch
    idx0, aug0, m0 = plan.batch(1, rank=0, world_size=2)
    idx1, _, m1 = plan.batch(1, rank=1, world_size=2)
    assert m0 == m1 and np.array_equal(np.stack([idx0, idx1], 1).ravel(), plan.batch(1)[0])
    assert len(aug0) == 8
    with pytest.raises(ConfigError, match="larger than the training set"):
        plan_epoch(10, batch_size=16, epoch=0, seed=0, augment=aug)


def _reference_item(ds, clip, partner, lam, mixed, shift, smoothing, num_classes):
    """The reference loader's __getitem__, written per clip, with its random draws given."""

    def get(i, m):
        x = torch.tensor(ds.read(np.array([i]), m)[0], dtype=torch.float32)
        return torch.nn.functional.normalize(x, dim=1)

    if mixed:
        a = lam * get(clip, "a") + (1 - lam) * get(partner, "a")
        v = lam * get(clip, "v") + (1 - lam) * get(partner, "v")
        target = np.zeros(num_classes) + smoothing / num_classes
        for k in ds.label_indices[clip]:
            target[k] += lam * (1 - smoothing)
        for k in ds.label_indices[partner]:
            target[k] += (1 - lam) * (1 - smoothing)
    else:
        a, v = get(clip, "a"), get(clip, "v")
        target = np.zeros(num_classes) + smoothing / num_classes
        for k in ds.label_indices[clip]:
            target[k] = 1 - smoothing
    return torch.roll(a, shift, 0), torch.roll(v, shift, 0), torch.tensor(target, dtype=torch.float32)


def test_train_batches_match_a_per_clip_reference_loader(synthetic):
    paths, labels = synthetic
    ds = DatafileDataset(paths["train"], labels, seq_len=5)
    aug = AugmentConfig(mixup=0.5, label_smoothing=0.1, noise=True, feat_norm=True)
    batches = TrainBatches(ds, aug)
    batches.plan = plan_epoch(len(ds), batch_size=8, epoch=1, seed=5, augment=aug, both_modalities=True)
    batch = batches.finish(batches[2])
    indices, draws, _ = batches.plan.batch(2)
    assert draws.mixed.any() and (~draws.mixed).any() and draws.shift.any()
    for row, clip in enumerate(indices):
        a, v, t = _reference_item(
            ds,
            clip,
            draws.partner[row],
            float(draws.lam[row]),
            draws.mixed[row],
            int(draws.shift[row]),
            0.1,
            len(labels),
        )
        torch.testing.assert_close(batch["a"][row], a)
        torch.testing.assert_close(batch["v"][row], v)
        torch.testing.assert_close(batch["targets"][row], t)


def test_unified_batches_load_only_the_step_modality(synthetic):
    paths, labels = synthetic
    ds = DatafileDataset(paths["train"], labels, seq_len=5)
    batches = TrainBatches(ds, AugmentConfig(), rank=1, world_size=2)
    batches.plan = plan_epoch(len(ds), batch_size=8, epoch=0, seed=0, augment=AugmentConfig(), a_tr_prob=0.5)
    for step in range(len(batches)):
        batch = batches.finish(batches[step])
        m = batches.plan.modalities[step]
        assert set(batch) == {m, "targets", "modality"} and batch[m].shape == (4, 5, 6)


def test_eval_batches(synthetic):
    paths, labels = synthetic
    ds = DatafileDataset(paths["test"], labels, seq_len=5)
    ev = EvalBatches(ds, 5, normalise=True, start=2, stop=12)
    assert len(ev) == 2
    b = ev[1]
    assert b["index"].tolist() == [7, 8, 9, 10, 11]
    torch.testing.assert_close(b["a"].norm(dim=-1), torch.ones(5, 5))
    torch.testing.assert_close(b["targets"], torch.from_numpy(ds.targets(np.arange(7, 12))))
