import numpy as np
import pytest
import torch

from uavm.data.transforms import (
    AugmentConfig,
    draw_augmentation,
    feat_norm,
    finish_batch,
    make_targets,
    mix,
    time_roll,
)
from uavm.sequence import pad_or_cut


def test_feat_norm_per_time_step():
    x = torch.tensor([[[3.0, 4.0], [0.0, 0.0], [0.0, -2.0]]])
    torch.testing.assert_close(feat_norm(x), torch.tensor([[[0.6, 0.8], [0.0, 0.0], [0.0, -1.0]]]))


def test_pad_or_cut():
    x = np.ones((3, 2), dtype=np.float16)
    np.testing.assert_array_equal(pad_or_cut(x, 5), [[1, 1]] * 3 + [[0, 0]] * 2)
    assert pad_or_cut(np.arange(8.0).reshape(1, 4, 2), 2).tolist() == [[[0, 1], [2, 3]]]


def test_time_roll_by_hand():
    x = torch.arange(5.0).view(1, 5, 1).repeat(3, 1, 2)
    out = time_roll(x, torch.tensor([2, -1, 0]))
    assert out[0, :, 0].tolist() == [3, 4, 0, 1, 2]
    assert out[1, :, 1].tolist() == [1, 2, 3, 4, 0]
    assert out[2, :, 0].tolist() == [0, 1, 2, 3, 4]
    for b, s in enumerate([2, -1, 0]):
        torch.testing.assert_close(out[b], torch.roll(x[b], s, 0))


def test_targets_without_mixup_by_hand():
    t = make_targets([[1], [0, 3]], 4, smoothing=0.1)
    torch.testing.assert_close(t, torch.tensor([[0.025, 0.9, 0.025, 0.025], [0.9, 0.025, 0.025, 0.9]]))
    torch.testing.assert_close(make_targets([[2]], 3), torch.tensor([[0.0, 0.0, 1.0]]))


def test_targets_with_mixup_by_hand():
    t = make_targets([[1], [1], [0]], 4, smoothing=0.1, partner_labels=[[2], [1], None], lam=np.array([0.7, 0.7, 1.0]))
    expected = torch.tensor(
        [
            [0.025, 0.025 + 0.63, 0.025 + 0.27, 0.025],  # own +0.7*0.9, partner +0.3*0.9
            [0.025, 0.025 + 0.9, 0.025, 0.025],  # same class twice: both shares add up
            [0.9, 0.025, 0.025, 0.025],  # this row is not mixed
        ]
    )
    torch.testing.assert_close(t, expected)


def test_mix_rowwise():
    x, p = torch.ones(2, 1, 2), torch.zeros(2, 1, 2)
    torch.testing.assert_close(mix(x, p, torch.tensor([0.25, 1.0])), torch.tensor([[[0.25, 0.25]], [[1.0, 1.0]]]))


@pytest.mark.parametrize("block_bytes", [1 << 22, 24])  # the whole batch as one block, and a block per clip
def test_finished_batch_by_hand(block_bytes, monkeypatch):
    monkeypatch.setattr("uavm.data.transforms.CACHE_BLOCK_BYTES", block_bytes)
    # clip 0 and its partner arrive rolled by +1 (the loader rolls while reading); clip 1 by 0;
    # the loader's rows are the batch's clips, then the mixed clips' partners
    x = [[[1, 0], [3, 4], [0, 1]], [[0, 2], [2, 0], [0, 0]]]
    partner = [[[0, 5], [0, 5], [5, 0]]]
    raw = {
        "modality": "a",
        "size": 2,
        "a": torch.tensor(x + partner, dtype=torch.float16),
        "mixed": torch.tensor([0]),
        "lam": torch.tensor([0.25], dtype=torch.float64),
        "set_rows": torch.tensor([1]),
        "set_classes": torch.tensor([2]),
        "add_rows": torch.tensor([0, 0]),
        "add_classes": torch.tensor([0, 1]),
        "add_weights": torch.tensor([0.25, 0.75], dtype=torch.float64),
    }
    out = finish_batch(raw, AugmentConfig(mixup=0.5, label_smoothing=0.3), num_classes=3)
    # clip 0: normalised rows (1,0),(0.6,0.8),(0,1); partner (0,1),(0,1),(1,0);
    # mixed 0.25*own + 0.75*partner = (0.25,0.75),(0.15,0.95),(0.75,0.25)
    expected0 = [[0.25, 0.75], [0.15, 0.95], [0.75, 0.25]]
    expected1 = [[0, 1], [1, 0], [0, 0]]
    torch.testing.assert_close(out["a"], torch.tensor([expected0, expected1]))
    assert out["a"].dtype == torch.float32 and out["modality"] == "a"
    # targets: 0.1 everywhere; clip 1's class 2 set to 0.7; clip 0 adds 0.25*0.7 and 0.75*0.7
    torch.testing.assert_close(out["targets"], torch.tensor([[0.275, 0.625, 0.1], [0.1, 0.1, 0.7]]))
    assert raw["a"][0, 1].tolist() == [3, 4]  # the loader's rows are never written


def test_draws_follow_the_spec_distributions():
    rng = np.random.default_rng(0)
    aug = draw_augmentation(40_000, 50, AugmentConfig(mixup=0.5, noise=True), rng)
    assert aug.mixed.mean() == pytest.approx(0.5, abs=0.01)
    assert (aug.lam[~aug.mixed] == 1.0).all() and (aug.partner[~aug.mixed] == -1).all()
    lam = aug.lam[aug.mixed]
    assert lam.mean() == pytest.approx(0.5, abs=0.005)
    assert lam.var() == pytest.approx(100 / (400 * 21), rel=0.05)  # Beta(10, 10)
    assert set(np.unique(aug.shift)) == set(range(-15, 15))
    assert aug.partner[aug.mixed].min() >= 0 and aug.partner.max() < 50
    quiet = draw_augmentation(100, 50, AugmentConfig(mixup=0.0, noise=False), np.random.default_rng(1))
    assert not quiet.mixed.any() and not quiet.shift.any()
