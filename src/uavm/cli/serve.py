"""``uavm serve``: a web page and a JSON API for one model (needs ``pip install uavm[serve]``)."""

from __future__ import annotations

import click

from ..extras import require
from .options import model_options, timeline_options


@click.command()
@model_options()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind (0.0.0.0 exposes the server to the network).",
)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--max-upload-mb", type=float, default=200, show_default=True, help="Largest accepted upload.")
@timeline_options()
def serve(
    model_spec: str,
    audio_encoder: str | None,
    visual_encoder: str | None,
    labels: str | None,
    top_k: int,
    device: str,
    host: str,
    port: int,
    max_upload_mb: float,
    window: float,
    hop: float,
) -> None:
    """Serve a page and a JSON API (POST /api/predict, GET /health) that classify uploaded videos."""
    require("serve", "uavm serve", "starlette", "uvicorn", "multipart")
    from ..predict import Predictor
    from ..serve import ServeOptions, run

    predictor = Predictor(
        model_spec,
        audio_encoder=audio_encoder,
        visual_encoder=visual_encoder,
        labels=labels,
        top_k=top_k,
        device=device,
        batch_size=1,
    )
    click.echo(f"uavm serve: http://{host}:{port}/", err=True)
    run(
        predictor,
        host=host,
        port=port,
        options=ServeOptions(int(max_upload_mb * 2**20), window=window, hop=hop, model_name=str(model_spec)),
    )
