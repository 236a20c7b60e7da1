"""HTTP serving of one artifact: `POST /predict` and `GET /health`, on Starlette and uvicorn.

    kdedge-runtime serve ARTIFACT [--host 127.0.0.1] [--port 8000]

Install with `pip install "kdedge-runtime[serve]"`. Requests are limited in body size (counted as the
body streams in, whatever Content-Length says or when there is none), in nesting depth, and in the number
and length of texts; the texts accepted but not yet answered, across all requests, are bounded too, and
past that bound the server answers 503 with `Retry-After` instead of queueing more. Every refusal is a
JSON `{"error": ...}` that says what to change. Predictions run in a worker thread (the Predictor is
thread-safe), so the event loop stays free.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from kdedge_runtime.predictor import Predictor, as_json


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


@dataclass
class _Load:
    """Texts accepted and not yet answered (the event loop is one thread: no lock needed)."""

    queued: int = 0


def create_app(predictor: Predictor, config: ServeConfig = ServeConfig()):
    """A Starlette app serving `predictor`."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    manifest = predictor.manifest.raw
    load = _Load()

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "task": predictor.manifest.task, "labels": predictor.labels,
                             "tasks": {t.name: list(t.labels) for t in predictor.manifest.tasks} if predictor.tasks else None,
                             "variant": manifest.get("variant"), "schema": manifest.get("schema")})

    async def predict(request: Request) -> JSONResponse:
        try:
            texts = parse_request(await read_body(request, config.max_body_bytes), config)
        except RequestError as error:
            return JSONResponse({"error": error.message}, status_code=error.status)
        if load.queued + len(texts) > config.max_queued_texts:
            return JSONResponse({"error": f"the server is busy: {load.queued} texts are waiting (the limit is "
                                          f"{config.max_queued_texts}); retry after {config.retry_after_seconds} s"},
                                status_code=503, headers={"Retry-After": str(config.retry_after_seconds)})
        load.queued += len(texts)
        try:
            predictions = await run_in_threadpool(predictor.predict, texts, config.batch_size)
        finally:
            load.queued -= len(texts)
        if predictor.manifest.multitask:  # per text, one result per task
            return JSONResponse({"results": [as_json(result) for result in predictions]})
        if predictor.manifest.task == "token-classification":  # a list of entities per text
            return JSONResponse({"entities": [as_json(found) for found in predictions]})
        return JSONResponse({"predictions": [as_json(p) for p in predictions]})

    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error: {type(error).__name__}; the request was not served"},
                            status_code=500)

    return Starlette(routes=[Route("/health", health, methods=["GET"]),
                             Route("/predict", predict, methods=["POST"])],
                     exception_handlers={Exception: internal_error})


def serve(artifact_dir: str, config: ServeConfig = ServeConfig(), threads: int | None = None) -> None:
    """Load the artifact and serve it until interrupted."""
    import uvicorn

    uvicorn.run(create_app(Predictor(artifact_dir, threads=threads), config), host=config.host, port=config.port,
                log_level="info")
