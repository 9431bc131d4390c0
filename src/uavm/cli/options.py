"""Command-line options that several commands share, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _stack(*decorators: Decorator) -> Decorator:
    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def model_options() -> Decorator:
    """The model and how its inputs are made: ``--model``, the two encoders, ``--labels``, ``--top-k``, ``--device``."""
    return _stack(
        click.option(
            "--model",
            "model_spec",
            default="uavm_vggsound",
            show_default=True,
            help="Registered model name, checkpoint path or hf-hub:ORG/NAME.",
        ),
        click.option("--audio-encoder", default=None, help="Audio encoder spec (default: the model's own)."),
        click.option("--visual-encoder", default=None, help="Visual encoder spec (default: the model's own)."),
        click.option(
            "--labels", default=None, help="Label set: vggsound, audioset or a label CSV (default: the model's)."
        ),
        click.option("--top-k", type=int, default=5, show_default=True),
        click.option("--device", default="auto", show_default=True),
    )


def timeline_options() -> Decorator:
    """The sliding window of a timeline: ``--window`` and ``--hop`` (seconds)."""
    return _stack(
        click.option("--window", type=float, default=10, show_default=True, help="Timeline window length in seconds."),
        click.option("--hop", type=float, default=5, show_default=True, help="Seconds between timeline window starts."),
    )
