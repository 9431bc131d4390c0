"""The web app of ``uavm serve`` (Starlette, served by uvicorn): one model, loaded once.

Routes:

* ``GET /`` — the page: drop or pick a video, see the audio-only, visual-only and fused
  ranked lists with bars, the timeline plot with the audio-visual agreement, and the
  attention each time step received.
* ``POST /api/predict`` — multipart form, field ``file`` (the media file), optional
  ``timeline=true``. Without ``timeline`` the answer is the object ``uavm predict --json``
  prints; with it, ``{"path", "duration", "window", "hop", "windows": [...], "attention",
  "notes", "prediction", "plot"}`` where ``windows`` holds the objects
  ``uavm predict --timeline --json`` prints, ``prediction`` the whole-clip object and
  ``plot`` the timeline PNG as a data URL.
* ``GET /health`` — ``{"status": "ok", ...}``.

An upload larger than the limit is refused with HTTP 413 before it is read in full; a
file that is not readable media gets HTTP 400; both answer ``{"error": "..."}`` and the
server goes on. Uploads go to a temporary folder that is removed after each request.
Requests run one at a time on the model (a lock), in a worker thread, so the server
stays responsive to ``/health`` meanwhile.
"""

from __future__ import annotations

import base64
import importlib.resources
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import UAVMError
from ..predict import Predictor

DEFAULT_MAX_UPLOAD_MB = 200
TRUE = ("1", "true", "yes", "on")
TOO_LARGE = "uavm.upload_too_large"  # scope key UploadLimit sets when it cuts a body off


@dataclass
class ServeOptions:
    """How the server answers: upload limit and the timeline's window and hop (seconds)."""

    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 2**20
    window: float = 10
    hop: float = 5
    model_name: str = "model"


def create_app(predictor: Predictor, options: ServeOptions | None = None) -> ASGIApp:
    """The ASGI app around a loaded :class:`Predictor` (wrapped in the upload-size guard)."""
    options = options or ServeOptions()
    lock = threading.Lock()

    async def page(request: Request) -> Response:
        html = importlib.resources.files("uavm.serve").joinpath("static/index.html").read_text(encoding="utf-8")
        return HTMLResponse(html.replace("{{MAX_UPLOAD_MB}}", f"{options.max_upload_bytes / 2**20:g}"))

    async def health(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "model": options.model_name,
                "classes": len(predictor.labels),
                "max_upload_bytes": options.max_upload_bytes,
            }
        )

    async def predict(request: Request) -> Response:
        try:
            form = await request.form(max_files=1, max_fields=8)
        except Exception as exc:  # noqa: BLE001 - any parser complaint is the client's problem
            if request.scope.get(TOO_LARGE):  # UploadLimit cut the body off
                return error(413, f"upload too large: the limit is {options.max_upload_bytes / 2**20:g} MB")
            return error(400, f"expected a multipart form upload with a field 'file' ({exc})")
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                return error(400, "no file: send the media file in the multipart field 'file'")
            want_timeline = str(form.get("timeline", "false")).lower() in TRUE
            name = Path(upload.filename or "upload").name
            with tempfile.TemporaryDirectory(prefix="uavm-serve-") as folder:
                path = Path(folder) / f"upload{_suffix(name)}"
                with path.open("wb") as out:
                    shutil.copyfileobj(upload.file, out, 1 << 20)
                try:
                    result = await run_in_threadpool(_answer, predictor, lock, path, name, want_timeline, options)
                except UAVMError as exc:
                    return error(400, f"{name}: {str(exc).replace(str(path) + ': ', '').replace(str(path), name)}")
            _rename(result, name)
            return JSONResponse(result)
        finally:
            await form.close()

    app = Starlette(
        routes=[Route("/", page), Route("/health", health), Route("/api/predict", predict, methods=["POST"])],
        exception_handlers={Exception: _internal_error},
    )
    return UploadLimit(app, options.max_upload_bytes)


def run(predictor: Predictor, host: str = "127.0.0.1", port: int = 8000, options: ServeOptions | None = None) -> None:
    """Serve the app with uvicorn until interrupted (binds ``127.0.0.1`` unless told otherwise)."""
    import uvicorn

    uvicorn.run(create_app(predictor, options), host=host, port=port, log_level="info")


def error(status: int, message: str) -> JSONResponse:
    """An error answer: ``{"error": message}`` with HTTP ``status``."""
    return JSONResponse({"error": message}, status_code=status)


class UploadLimit:
    """ASGI guard: refuses ``POST /api/predict`` bodies over ``limit`` bytes with HTTP 413.

    A declared ``Content-Length`` over the limit is refused before any byte is read; a
    body without one is counted as it streams in and cut off once over the limit (the
    reader sees an error and the scope key :data:`TOO_LARGE`, and answers 413).
    """

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/api/predict":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    scope[TOO_LARGE] = True
                    raise _TooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit_mb = self.limit / 2**20
        await error(413, f"upload too large: the limit is {limit_mb:g} MB")(scope, receive, send)


class _TooLarge(Exception):
    pass


def _answer(
    predictor: Predictor, lock: threading.Lock, path: Path, name: str, want_timeline: bool, options: ServeOptions
) -> dict[str, Any]:
    """What the API returns for one uploaded file (runs in a worker thread, one request at a time)."""
    with lock:
        prediction = predictor.predict(path).to_json()
        if not want_timeline:
            return prediction
        result = predictor.timeline(path, window=options.window, hop=options.hop)
    from ..timeline import plot_timeline

    out = result.to_json()
    out["prediction"] = prediction
    plot = path.with_name("timeline.png")
    plot_timeline(result, plot, title=name)
    out["plot"] = "data:image/png;base64," + base64.b64encode(plot.read_bytes()).decode("ascii")
    return out


def _rename(result: dict[str, Any], name: str) -> None:
    """Answers name the uploaded file, not the server's temporary copy."""
    result["path"] = name
    if isinstance(result.get("prediction"), dict):
        result["prediction"]["path"] = name


def _suffix(name: str) -> str:
    """The upload's extension when it is a plain one (it helps FFmpeg guess the format), else none."""
    suffix = Path(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""


async def _internal_error(request: Request, exc: Exception) -> Response:
    return error(500, f"internal error: {type(exc).__name__}: {exc}")
