import random

import numpy as np
import pytest
import torch

from uavm.errors import CheckpointError
from uavm.train.checkpointing import load_checkpoint, save_checkpoint
from uavm.train.schedule import build_optimizer, build_scheduler, step_scheduler


def _setup(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))
    opt = build_optimizer(model.parameters(), 1e-2)
    sched = build_scheduler(opt, "multistep", start=1, step=1, decay=0.5)
    return model, opt, sched


def _epoch(model, opt, sched):
    for _ in range(3):
        x = torch.randn(5, 4)  # global torch RNG: restored by the checkpoint
        noise = np.random.rand() + random.random()
        loss = (model(x) ** 2).mean() * noise
        opt.zero_grad()
        loss.backward()
        opt.step()
    step_scheduler(sched, 0.0)


def test_resume_continues_exactly(tmp_path):
    model, opt, sched = _setup(0)
    for _ in range(3):
        _epoch(model, opt, sched)
    expected = [p.detach().clone() for p in model.parameters()]

    model, opt, sched = _setup(0)
    _epoch(model, opt, sched)
    save_checkpoint(tmp_path / "ck.pt", model=model, optimizer=opt, scheduler=sched, epoch=1, extra={"rows": [[0.5]]})
    for _ in range(5):  # disturb every global RNG
        torch.rand(3), np.random.rand(), random.random()

    model2, opt2, sched2 = _setup(123)
    state = load_checkpoint(tmp_path / "ck.pt", model=model2, optimizer=opt2, scheduler=sched2)
    assert state["epoch"] == 1 and state["extra"] == {"rows": [[0.5]]}
    assert opt2.param_groups[0]["lr"] == pytest.approx(5e-3)
    for _ in range(2):
        _epoch(model2, opt2, sched2)
    for a, b in zip(expected, model2.parameters()):
        assert torch.equal(a, b)


def test_foreign_and_missing_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"a": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a uavm training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_wrong_model_is_a_clear_error(tmp_path):
    model, opt, sched = _setup(0)
    save_checkpoint(tmp_path / "ck.pt", model=model, epoch=0)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "ck.pt", model=torch.nn.Linear(4, 3))


def test_gradient_tensors_are_recreated_for_exact_adam_resumes(tmp_path):
    # Adam steps every parameter holding a gradient tensor, zero or not: a resumed run must have the same ones
    model, opt, _ = _setup(0)
    model[0].weight.grad = torch.ones_like(model[0].weight)
    save_checkpoint(tmp_path / "ck.pt", model=model, optimizer=opt, epoch=1)
    fresh, opt2, _ = _setup(1)
    load_checkpoint(tmp_path / "ck.pt", model=fresh, optimizer=opt2)
    assert torch.equal(fresh[0].weight.grad, torch.zeros_like(fresh[0].weight))
    assert fresh[0].bias.grad is None and fresh[2].weight.grad is None
