import pytest
import torch

from uavm.errors import ConfigError
from uavm.train.schedule import (
    LinearWarmup,
    build_optimizer,
    build_scheduler,
    current_lr,
    milestones,
    step_scheduler,
)


def _opt(lr=5e-5):
    return build_optimizer(torch.nn.Linear(2, 2).parameters(), lr)


def test_adam_settings_of_the_paper():
    group = _opt().param_groups[0]
    assert group["betas"] == (0.95, 0.999) and group["weight_decay"] == 5e-7 and group["lr"] == 5e-5


def test_frozen_parameters_are_left_out():
    m = torch.nn.Linear(2, 2)
    m.bias.requires_grad_(False)
    assert len(build_optimizer(m.parameters(), 1e-3).param_groups[0]["params"]) == 1


def test_multistep_lr_per_epoch_matches_the_reference_recipe():
    # VGGSound recipe: start 1, step 1, decay 0.5: the lr of epoch e (1-based) is 5e-5 * 0.5**(e-1)
    opt = _opt()
    sched = build_scheduler(opt, "multistep", start=1, step=1, decay=0.5)
    lrs = []
    for _ in range(4):
        lrs.append(current_lr(opt))
        opt.step()
        step_scheduler(sched, 0.0)
    assert lrs == pytest.approx([5e-5, 2.5e-5, 1.25e-5, 6.25e-6])
    assert milestones(35, 5)[:3] == [35, 40, 45]


def test_multistep_with_later_start():
    opt = _opt(1.0)
    sched = build_scheduler(opt, "multistep", start=2, step=2, decay=0.1)
    lrs = []
    for _ in range(5):
        lrs.append(current_lr(opt))
        opt.step()
        step_scheduler(sched, 0.0)
    assert lrs == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])


def test_plateau_halves_after_patience_2():
    opt = _opt(1.0)
    sched = build_scheduler(opt, "plateau")
    lrs = []
    for metric in [0.5, 0.4, 0.4, 0.4, 0.6]:
        step_scheduler(sched, metric)
        lrs.append(current_lr(opt))
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5]


def test_unknown_scheduler():
    with pytest.raises(ConfigError, match="unknown scheduler"):
        build_scheduler(_opt(), "cosine")


def test_linear_warmup_values():
    opt = _opt(1.0)
    warm = LinearWarmup(opt, 4)
    seen = []
    for step in range(6):
        warm.step(step)
        seen.append(current_lr(opt))
    assert seen == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    warm.check_fits(4)
    with pytest.raises(ConfigError, match="overlaps"):
        warm.check_fits(3)
    other = LinearWarmup(_opt(3.0), 1)
    other.load_state_dict(warm.state_dict())
    assert other.steps == 4 and other.base_lrs == [1.0]
