"""``uavm serve``: a web page and a JSON API for one model (needs ``pip install uavm[serve]``)."""

from __future__ import annotations

import click

from ..errors import ConfigError


@click.command()
@click.option(
    "--model",
    "model_spec",
    default="uavm_vggsound",
    show_default=True,
    help="Registered model name or checkpoint path.",
)
@click.option("--audio-encoder", default=None, help="Audio encoder spec (default: the model's own).")
@click.option("--visual-encoder", default=None, help="Visual encoder spec (default: the model's own).")
@click.option("--labels", default=None, help="Label set: vggsound, audioset or a label CSV (default: the model's).")
@click.option("--top-k", type=int, default=5, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind (0.0.0.0 exposes the server to the network).",
)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--max-upload-mb", type=float, default=200, show_default=True, help="Largest accepted upload.")
@click.option("--window", type=float, default=10, show_default=True, help="Timeline window length in seconds.")
@click.option("--hop", type=float, default=5, show_default=True, help="Seconds between timeline window starts.")
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
    try:
        from ..serve import ServeOptions, run
    except ImportError as exc:
        raise ConfigError(f"uavm serve needs the [serve] extra: pip install 'uavm[serve]' ({exc})") from None
    from ..predict import Predictor

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
