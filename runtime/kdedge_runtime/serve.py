"""HTTP serving of one artifact: `POST /predict` and `GET /health`, on Starlette and uvicorn.

    kdedge-runtime serve ARTIFACT [--host 127.0.0.1] [--port 8000]

Install with `pip install "kdedge-runtime[serve]"`. Requests are limited in body size and in the number
and length of texts; every refusal is a 4xx with a JSON `{"error": ...}` that says what to change.
Predictions run in a worker thread (the Predictor is thread-safe), so the event loop stays free.
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
        if len(text) > config.max_text_chars:
            raise RequestError(413, f"text #{position} has {len(text):,} characters; the limit is "
                                    f"{config.max_text_chars:,}")
    return texts


def create_app(predictor: Predictor, config: ServeConfig = ServeConfig()):
    """A Starlette app serving `predictor`."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    manifest = predictor.manifest.raw

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "task": predictor.manifest.task, "labels": predictor.labels,
                             "tasks": {t.name: list(t.labels) for t in predictor.manifest.tasks} if predictor.tasks else None,
                             "variant": manifest.get("variant"), "schema": manifest.get("schema")})

    async def predict(request: Request) -> JSONResponse:
        try:
            declared = int(request.headers.get("content-length") or 0)
            if declared > config.max_body_bytes:
                raise RequestError(413, f"request body is {declared:,} bytes; the limit is {config.max_body_bytes:,}")
            texts = parse_request(await request.body(), config)
        except RequestError as error:
            return JSONResponse({"error": error.message}, status_code=error.status)
        predictions = await run_in_threadpool(predictor.predict, texts, config.batch_size)
        if predictor.manifest.multitask:  # per text, one result per task
            return JSONResponse({"results": [as_json(result) for result in predictions]})
        if predictor.manifest.task == "token-classification":  # a list of entities per text
            return JSONResponse({"entities": [as_json(found) for found in predictions]})
        return JSONResponse({"predictions": [as_json(p) for p in predictions]})

    return Starlette(routes=[Route("/health", health, methods=["GET"]),
                             Route("/predict", predict, methods=["POST"])])


def serve(artifact_dir: str, config: ServeConfig = ServeConfig(), threads: int | None = None) -> None:
    """Load the artifact and serve it until interrupted."""
    import uvicorn

    uvicorn.run(create_app(Predictor(artifact_dir, threads=threads), config), host=config.host, port=config.port,
                log_level="info")
