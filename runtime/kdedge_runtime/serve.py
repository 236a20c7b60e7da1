"""HTTP serving of one artifact on Starlette and uvicorn: `POST /predict`, `GET /health` (liveness),
`GET /ready` (readiness: 503 while the work in flight is at its bound) and `GET /metrics` (Prometheus).

    kdedge-runtime serve ARTIFACT [--host 127.0.0.1] [--port 8000] [--workers N]

Install with `pip install "kdedge-runtime[serve]"`. Requests are limited in body size (counted as the
body streams in, whatever Content-Length says or when there is none), in nesting depth, and in the number
and length of texts; the texts accepted but not yet answered, across all requests, are bounded too, and
past that bound the server answers 503 with `Retry-After` instead of queueing more. Every refusal is a
JSON `{"error": ...}` that says what to change. Predictions run in a worker thread (the Predictor is
thread-safe), so the event loop stays free. Every request is logged as one JSON line on the
`kdedge_runtime.access` logger. Several worker processes (`--workers N`) each load the artifact; they
build their app from the environment (`app_from_environment`), as uvicorn's `--factory` expects.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from dataclasses import dataclass

from kdedge_runtime.metrics import ServerMetrics
from kdedge_runtime.predictor import Predictor, as_json

ACCESS_LOG = logging.getLogger("kdedge_runtime.access")
ENVIRONMENT = {"artifact": "KDEDGE_ARTIFACT", "threads": "KDEDGE_THREADS", "config": "KDEDGE_SERVE_CONFIG"}


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"  # loopback only unless asked: put a proxy in front for the outside world
    port: int = 8000
    max_body_bytes: int = 1_000_000
    max_texts: int = 256  # texts per request
    max_text_chars: int = 20_000
    batch_size: int = 32  # texts per model call
    max_queued_texts: int = 2048  # texts accepted and not yet answered, all requests together; then 503
    retry_after_seconds: int = 1
    workers: int = 1  # processes, each with its own copy of the model


class RequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def parse_request(body: bytes, config: ServeConfig) -> list[str]:
    """The texts of a `/predict` body `{"texts": [...]}`, or a RequestError that says what is wrong."""
    if len(body) > config.max_body_bytes:
        raise RequestError(413, f"request body is {len(body):,} bytes; the limit is {config.max_body_bytes:,}")
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestError(400, f"request body is not valid JSON: {error}") from None
    except RecursionError:
        raise RequestError(400, 'request body nests too deeply: send {"texts": ["...", ...]}') from None
    if not isinstance(payload, dict) or "texts" not in payload:
        raise RequestError(422, 'send a JSON object with a list of strings under "texts", e.g. {"texts": ["hello"]}')
    texts = payload["texts"]
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise RequestError(422, '"texts" must be a list of strings')
    if not texts:
        raise RequestError(422, '"texts" is empty: send at least one text')
    if len(texts) > config.max_texts:
        raise RequestError(413, f"{len(texts)} texts in one request; the limit is {config.max_texts}: split the batch")
    for position, text in enumerate(texts):
        if not text.strip():
            raise RequestError(422, f"text #{position} is empty")
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise RequestError(422, f"text #{position} is not valid Unicode (it has a lone surrogate such as "
                                        "\\ud800): send UTF-8 text") from None
        if len(text) > config.max_text_chars:
            raise RequestError(413, f"text #{position} has {len(text):,} characters; the limit is "
                                    f"{config.max_text_chars:,}")
    return texts


async def read_body(request, limit: int) -> bytes:
    """The request body, read as it streams in and refused (413) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise RequestError(400, f"Content-Length {declared!r} is not a byte count")
        if int(declared) > limit:
            raise RequestError(413, f"request body is {int(declared):,} bytes; the limit is {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class AccessLog:
    """ASGI middleware: one JSON line per request (method, path, status, milliseconds, texts, client) on
    the `kdedge_runtime.access` logger, and the request counted in `metrics`."""

    def __init__(self, app, metrics: ServerMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]
        state = scope.setdefault("state", {})

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            texts = state.get("texts", 0)
            self.metrics.record(scope["path"], status[0], seconds, texts)
            if ACCESS_LOG.isEnabledFor(logging.INFO):
                client = scope.get("client") or ("", 0)
                ACCESS_LOG.info(json.dumps({
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "method": scope["method"],
                    "path": scope["path"], "status": status[0], "ms": round(seconds * 1000, 2), "texts": texts,
                    "client": f"{client[0]}:{client[1]}"}))


def create_app(predictor: Predictor, config: ServeConfig = ServeConfig()):
    """A Starlette app serving `predictor`."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    manifest = predictor.manifest.raw
    metrics = ServerMetrics({"task": predictor.manifest.task, "variant": str(manifest.get("variant")),
                             "student": str(manifest.get("student", {}).get("kind")),
                             "schema": str(manifest.get("schema")),
                             "model_sha256": str((manifest.get("hashes") or {}).get(predictor.manifest.model_file, {})
                                                 .get("sha256", ""))[:12]})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "task": predictor.manifest.task, "labels": predictor.labels,
                             "tasks": {t.name: list(t.labels) for t in predictor.manifest.tasks} if predictor.tasks else None,
                             "variant": manifest.get("variant"), "schema": manifest.get("schema")})

    async def ready(request: Request) -> JSONResponse:
        """Readiness, distinct from liveness: the model is loaded and the server takes more work."""
        if metrics.in_flight >= config.max_queued_texts:
            return JSONResponse({"ready": False, "reason": f"{metrics.in_flight} texts in flight, at the limit"},
                                status_code=503, headers={"Retry-After": str(config.retry_after_seconds)})
        return JSONResponse({"ready": True, "in_flight": metrics.in_flight})

    async def prometheus(request: Request) -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def predict(request: Request) -> JSONResponse:
        try:
            texts = parse_request(await read_body(request, config.max_body_bytes), config)
        except RequestError as error:
            return JSONResponse({"error": error.message}, status_code=error.status)
        if metrics.in_flight + len(texts) > config.max_queued_texts:
            return JSONResponse({"error": f"the server is busy: {metrics.in_flight} texts are waiting (the limit "
                                          f"is {config.max_queued_texts}); retry after {config.retry_after_seconds} s"},
                                status_code=503, headers={"Retry-After": str(config.retry_after_seconds)})
        metrics.in_flight += len(texts)  # the event loop is one thread: no lock needed
        try:
            predictions = await run_in_threadpool(predictor.predict, texts, config.batch_size)
        finally:
            metrics.in_flight -= len(texts)
        request.scope["state"]["texts"] = len(texts)
        if predictor.manifest.multitask:  # per text, one result per task
            return JSONResponse({"results": [as_json(result) for result in predictions]})
        if predictor.manifest.task == "token-classification":  # a list of entities per text
            return JSONResponse({"entities": [as_json(found) for found in predictions]})
        return JSONResponse({"predictions": [as_json(p) for p in predictions]})

    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error: {type(error).__name__}; the request was not served"},
                            status_code=500)

    app = Starlette(routes=[Route("/health", health, methods=["GET"]), Route("/ready", ready, methods=["GET"]),
                            Route("/metrics", prometheus, methods=["GET"]), Route("/predict", predict, methods=["POST"])],
                    exception_handlers={Exception: internal_error})
    return AccessLog(app, metrics)


class _Stderr(logging.Handler):
    """The message alone, to whatever sys.stderr is when the record is written."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(record.getMessage() + "\n")
        except (OSError, ValueError):  # stderr closed (a daemon thread at interpreter exit)
            pass


def log_access() -> None:
    """Write the access log's JSON lines to stderr (once per process; uvicorn's own access log is off)."""
    if not ACCESS_LOG.handlers:
        ACCESS_LOG.addHandler(_Stderr())
        ACCESS_LOG.setLevel(logging.INFO)
        ACCESS_LOG.propagate = False


def app_from_environment():
    """The app of one worker process, from KDEDGE_ARTIFACT, KDEDGE_THREADS and KDEDGE_SERVE_CONFIG (JSON of
    ServeConfig's fields): `uvicorn --factory kdedge_runtime.serve:app_from_environment --workers N`."""
    artifact = os.environ.get(ENVIRONMENT["artifact"])
    if not artifact:
        raise RuntimeError(f"set {ENVIRONMENT['artifact']} to the artifact folder to serve")
    threads = int(os.environ[ENVIRONMENT["threads"]]) if os.environ.get(ENVIRONMENT["threads"]) else None
    config = ServeConfig(**json.loads(os.environ.get(ENVIRONMENT["config"]) or "{}"))
    predictor = Predictor(artifact, threads=threads)
    log_access()
    return create_app(predictor, config)


def serve(artifact_dir: str, config: ServeConfig = ServeConfig(), threads: int | None = None) -> None:
    """Load the artifact and serve it until interrupted; with `config.workers` > 1, in that many processes."""
    import uvicorn

    options = {"host": config.host, "port": config.port, "log_level": "info", "access_log": False}
    predictor = Predictor(artifact_dir, threads=threads)  # a bad artifact is refused here, in one line
    log_access()  # only once the artifact loads: a refused start installs nothing
    if config.workers <= 1:
        uvicorn.run(create_app(predictor, config), **options)
        return
    del predictor  # each worker loads its own
    os.environ[ENVIRONMENT["artifact"]] = str(artifact_dir)
    os.environ[ENVIRONMENT["threads"]] = str(threads or "")
    os.environ[ENVIRONMENT["config"]] = json.dumps(dataclasses.asdict(config))
    uvicorn.run("kdedge_runtime.serve:app_from_environment", factory=True, workers=config.workers, **options)
