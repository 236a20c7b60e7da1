"""HTTP serving of one artifact on Starlette and uvicorn: `POST /predict`, `GET /health` (liveness),
`GET /ready` (readiness: 503 while the work in flight is at its bound), `GET /metrics` (Prometheus), and
the Open Inference Protocol (KServe V2, as Triton and MLServer speak it) under `/v2` (see `v2.py`).

    kdedge-runtime serve ARTIFACT [--host 127.0.0.1] [--port 8000] [--workers N]

Install with `pip install "kdedge-runtime[serve]"`. Requests are limited in body size (counted as the
body streams in, whatever Content-Length says or when there is none), in nesting depth, and in the number
and length of texts; the texts accepted but not yet answered, across all requests, are bounded too, and
past that bound the server answers 503 with `Retry-After` instead of queueing more. Every refusal is a
JSON `{"error": ...}` that says what to change. Predictions run on a bounded pool of inference threads
(`batching.InferenceExecutor`: never more onnxruntime threads than cores), so the event loop stays free,
and concurrent requests are grouped into one model call (`batching.DynamicBatcher`; off with
`max_batch_texts=0`). Every request is logged as one JSON line on the
`kdedge_runtime.access` logger. Several worker processes (`--workers N`) each load the artifact; they
build their app from the environment (`app_from_environment`), as uvicorn's `--factory` expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import json
import logging
import os
import sys
import time
from dataclasses import dataclass

from kdedge_runtime import v2
from kdedge_runtime.batching import DynamicBatcher, InferenceExecutor
from kdedge_runtime.metrics import ServerMetrics
from kdedge_runtime.predictor import Predictor
from kdedge_runtime.results import as_json

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
    max_batch_texts: int = 64  # dynamic batching: texts of concurrent requests per model call; 0 turns it off
    batch_delay_ms: float = 1.0  # how long a batch that is not full waits for more texts (0: only those waiting)
    model_name: str | None = None  # the model's name under /v2/models/ (default: the artifact folder's name)
    idle_timeout_seconds: float = 5.0  # a connection with no request in flight is closed after this long
    body_timeout_seconds: float = 30.0  # a request body must arrive whole within this long (slow senders: 408)
    max_connections: int = 1024  # open connections and requests at once; past it uvicorn answers 503
    api_key: str | None = None  # when set, every route but the liveness and readiness probes needs "Bearer KEY"
    allowed_hosts: tuple[str, ...] | None = None  # Host names served; None: loopback names when bound to loopback

    def __post_init__(self) -> None:
        problems = [f"{name} must be at least 1" for name in ("max_body_bytes", "max_texts", "max_text_chars",
                                                              "batch_size", "max_queued_texts", "workers")
                    if getattr(self, name) < 1]
        if self.idle_timeout_seconds <= 0 or self.body_timeout_seconds <= 0 or self.max_connections < 1:
            problems.append("idle_timeout_seconds and body_timeout_seconds must be positive, max_connections at least 1")
        if self.max_batch_texts < 0 or self.batch_delay_ms < 0:
            problems.append("max_batch_texts and batch_delay_ms must be 0 or more")
        if self.max_texts > self.max_queued_texts:
            problems.append(f"max_texts ({self.max_texts}) must not exceed max_queued_texts ({self.max_queued_texts}):"
                            " such a request could never be served")
        if problems:
            raise ValueError("; ".join(problems))


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
    except ValueError:  # an integer of more digits than Python converts (4,300)
        raise RequestError(400, 'request body has a number too long to read: send {"texts": ["...", ...]}') from None
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


async def read_body(request, limit: int, timeout: float = 30.0) -> bytes:
    """The request body, read as it streams in and refused (413) as soon as it passes `limit` bytes, or
    (408) when it has not arrived whole within `timeout` seconds. A client that goes away mid-body is 499
    (nginx's "client closed request"), not a server error."""
    from starlette.requests import ClientDisconnect

    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise RequestError(400, f"Content-Length {declared!r} is not a byte count")
        if int(declared) > limit:
            raise RequestError(413, f"request body is {int(declared):,} bytes; the limit is {limit:,}")

    async def chunks() -> bytes:
        parts, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"request body is over the limit of {limit:,} bytes")
            parts.append(chunk)
        return b"".join(parts)

    try:
        return await asyncio.wait_for(chunks(), timeout)
    except asyncio.TimeoutError:
        raise RequestError(408, f"the request body did not arrive within {timeout:g} s") from None
    except ClientDisconnect:
        raise RequestError(499, "the client closed the connection before its request body arrived") from None


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
PROBES = ("/health", "/ready", "/v2/health/live", "/v2/health/ready")


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def host_name(host: str) -> str:
    """The name in a Host header, without its port (an IPv6 literal keeps its brackets)."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


class Guard:
    """ASGI middleware in front of every route: the Host check (a server bound to loopback answers only
    to loopback names, so a web page's DNS rebinding cannot reach it) and, with an API key, the bearer
    token (liveness and readiness probes stay open). Refusals are JSON, counted and logged as any other."""

    def __init__(self, app, config: ServeConfig):
        self.app, self.config = app, config
        allowed = config.allowed_hosts
        if allowed is None and is_loopback(config.host):
            allowed = LOOPBACK_HOSTS
        self.allowed = None if allowed is None else {name.lower() for name in allowed}
        self.token = f"Bearer {config.api_key}".encode() if config.api_key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if self.allowed is not None:
            host = headers.get(b"host", b"").decode("latin-1").lower()
            if host_name(host) not in self.allowed:
                return await _json(send, 421, f"Host {host!r} is not served here (allowed: {', '.join(sorted(self.allowed))});"
                                              " set --allowed-hosts for a proxy's name")
        if self.token is not None and scope["path"] not in PROBES:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.token):
                return await _json(send, 401, "missing or wrong API key: send the header Authorization: Bearer KEY",
                                   [(b"www-authenticate", b"Bearer")])
        return await self.app(scope, receive, send)


async def _json(send, status: int, message: str, headers: list | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


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
            self.metrics.record(route_label(scope["path"]), status[0], seconds, texts)
            if ACCESS_LOG.isEnabledFor(logging.INFO):
                client = scope.get("client") or ("", 0)
                ACCESS_LOG.info(json.dumps({
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "method": scope["method"],
                    "path": scope["path"], "status": status[0], "ms": round(seconds * 1000, 2), "texts": texts,
                    "client": f"{client[0]}:{client[1]}"}))


ROUTES = ("/health", "/ready", "/metrics", "/predict", "/v2", "/v2/health/live", "/v2/health/ready")
INFERENCE_ROUTES = ("/predict", "/v2/models/{name}/infer")


def route_label(path: str) -> str:
    """The route a path matched, for metrics and logs: a fixed set, so no client can create new series."""
    if path in ROUTES:
        return path
    parts = path.split("/")
    if len(parts) >= 4 and parts[:3] == ["", "v2", "models"]:
        rest = parts[4:]
        if rest[:1] == ["versions"] and len(rest) >= 2:
            rest = rest[2:]
        return "/v2/models/{name}" + "".join(f"/{part}" for part in rest[:1]) if len(rest) <= 1 else "other"
    return "other"


class Inference:
    """Texts in, typed results out, for every route: backpressure (503 past `max_queued_texts`), the
    texts-in-flight gauge, and the model calls on the bounded executor, grouped by the dynamic batcher."""

    def __init__(self, predictor: Predictor, config: ServeConfig, metrics: ServerMetrics):
        self.predictor, self.config, self.metrics = predictor, config, metrics
        self.executor = InferenceExecutor(predictor.threads)
        self.batcher = (DynamicBatcher(self._predict, self.executor, config.max_batch_texts, config.batch_delay_ms)
                        if config.max_batch_texts else None)

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        yield
        if self.batcher is not None:
            await self.batcher.close()
        self.executor.shutdown()

    def _predict(self, texts: list[str]) -> list:
        return self.predictor.predict(texts, self.config.batch_size)

    @property
    def full(self) -> bool:
        """At the bound: not one more text is taken (the readiness probes say so too)."""
        return self.metrics.in_flight >= self.config.max_queued_texts

    def check_room(self, count: int) -> None:
        """The 503 (a RequestError) when `count` more texts would pass the bound."""
        if self.metrics.in_flight + count > self.config.max_queued_texts:
            raise RequestError(503, f"the server is busy: {self.metrics.in_flight} texts are waiting (the limit is "
                                    f"{self.config.max_queued_texts}); retry after {self.config.retry_after_seconds} s")

    async def __call__(self, texts: list[str]) -> list:
        self.check_room(len(texts))
        self.metrics.in_flight += len(texts)  # the event loop is one thread: no lock needed
        try:
            if self.batcher is not None:
                return await self.batcher.submit(texts)
            return await self.executor.run(self._predict, texts)
        finally:
            self.metrics.in_flight -= len(texts)


def create_app(predictor: Predictor, config: ServeConfig = ServeConfig()):
    """A Starlette app serving `predictor`."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    from kdedge_runtime import __version__

    manifest = predictor.manifest.raw
    metrics = ServerMetrics({"task": predictor.manifest.task, "variant": str(manifest.get("variant")),
                             "student": str(manifest.get("student", {}).get("kind")),
                             "schema": str(manifest.get("schema")),
                             "model_sha256": str((manifest.get("hashes") or {}).get(predictor.manifest.model_file, {})
                                                 .get("sha256", ""))[:12]})
    inference = Inference(predictor, config, metrics)
    model_name = config.model_name or predictor.folder.resolve().name
    tasks = predictor.manifest.tasks
    output_names = [spec.name for spec in v2.output_specs(tasks)]

    def error(status: int, message: str) -> JSONResponse:
        headers = {"Retry-After": str(config.retry_after_seconds)} if status == 503 else None
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "task": predictor.manifest.task, "labels": predictor.labels,
                             "tasks": {t.name: list(t.labels) for t in tasks} if predictor.tasks else None,
                             "variant": manifest.get("variant"), "schema": manifest.get("schema")})

    async def ready(request: Request) -> JSONResponse:
        """Readiness, distinct from liveness: the model is loaded and the server takes more work."""
        if inference.full:
            return JSONResponse({"ready": False, "reason": f"{metrics.in_flight} texts in flight, at the limit"},
                                status_code=503, headers={"Retry-After": str(config.retry_after_seconds)})
        return JSONResponse({"ready": True, "in_flight": metrics.in_flight})

    async def prometheus(request: Request) -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def predict(request: Request) -> JSONResponse:
        try:
            inference.check_room(1)  # at the bound already: refuse before reading the body
            texts = parse_request(await read_body(request, config.max_body_bytes, config.body_timeout_seconds), config)
            predictions = await inference(texts)
        except RequestError as refused:
            return error(refused.status, refused.message)
        request.scope["state"]["texts"] = len(texts)
        if predictor.manifest.multitask:  # per text, one result per task
            return JSONResponse({"results": [as_json(result) for result in predictions]})
        if predictor.manifest.task == "token-classification":  # a list of entities per text
            return JSONResponse({"entities": [as_json(found) for found in predictions]})
        return JSONResponse({"predictions": [as_json(p) for p in predictions]})

    def known_model(request: Request) -> JSONResponse | None:
        """A 404 for a model name or version this server does not serve, else None."""
        name, version = request.path_params["name"], request.path_params.get("version", "1")
        if name != model_name:
            return error(404, f"unknown model {name!r}: this server serves {model_name!r}")
        if version != "1":
            return error(404, f"unknown version {version!r} of model {name!r}: the only version is '1'")
        return None

    async def server_metadata(request: Request) -> JSONResponse:
        return JSONResponse({"name": "kdedge-runtime", "version": __version__, "extensions": v2.EXTENSIONS})

    async def live(request: Request) -> JSONResponse:
        return JSONResponse({"live": True})

    async def server_ready(request: Request) -> JSONResponse:
        return JSONResponse({"ready": not inference.full}, status_code=503 if inference.full else 200)

    async def model_metadata(request: Request) -> JSONResponse:
        return known_model(request) or JSONResponse(v2.model_metadata(model_name, tasks, manifest))

    async def model_ready(request: Request) -> JSONResponse:
        return known_model(request) or JSONResponse({"name": model_name, "ready": True})

    async def infer(request: Request) -> Response:
        unknown = known_model(request)
        if unknown:
            return unknown
        try:
            inference.check_room(1)
            body = await read_body(request, config.max_body_bytes, config.body_timeout_seconds)
            parsed = v2.parse_infer_request(body, request.headers.get(v2.HEADER_LENGTH.lower()), config.max_texts,
                                            config.max_text_chars)
            v2.check_outputs(parsed, output_names)
            predictions = await inference(parsed.texts)
            content, header_length = v2.infer_response(model_name, parsed, v2.result_tensors(predictions, tasks))
        except (RequestError, v2.ProtocolError) as refused:
            return error(refused.status, refused.message)
        request.scope["state"]["texts"] = len(parsed.texts)
        if header_length is None:
            return Response(content, media_type="application/json")
        return Response(content, media_type="application/octet-stream",
                        headers={v2.HEADER_LENGTH: str(header_length)})

    async def not_found(request: Request, problem: HTTPException) -> JSONResponse:
        message = {404: f"no route {request.url.path!r}: see GET /v2 or POST /predict",
                   405: f"{request.method} is not allowed on {request.url.path!r}"}.get(problem.status_code,
                                                                                      str(problem.detail))
        return JSONResponse({"error": message}, status_code=problem.status_code, headers=problem.headers)

    async def internal_error(request: Request, problem: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error: {type(problem).__name__}; the request was not served"},
                            status_code=500)

    model_routes = []
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        model_routes += [Route(prefix, model_metadata, methods=["GET"]),
                         Route(prefix + "/ready", model_ready, methods=["GET"]),
                         Route(prefix + "/infer", infer, methods=["POST"])]
    app = Starlette(routes=[Route("/health", health, methods=["GET"]), Route("/ready", ready, methods=["GET"]),
                            Route("/metrics", prometheus, methods=["GET"]), Route("/predict", predict, methods=["POST"]),
                            Route("/v2", server_metadata, methods=["GET"]),
                            Route("/v2/health/live", live, methods=["GET"]),
                            Route("/v2/health/ready", server_ready, methods=["GET"]), *model_routes],
                    exception_handlers={HTTPException: not_found, Exception: internal_error},
                    lifespan=inference.lifespan)
    return AccessLog(Guard(app, config), metrics)


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
    fields = json.loads(os.environ.get(ENVIRONMENT["config"]) or "{}")
    if fields.get("allowed_hosts") is not None:
        fields["allowed_hosts"] = tuple(fields["allowed_hosts"])
    config = ServeConfig(**fields)
    predictor = Predictor(artifact, threads=threads)
    log_access()
    return create_app(predictor, config)


def uvicorn_options(config: ServeConfig) -> dict:
    """uvicorn's settings for `config`: its concurrency limit, the idle timeout, and a protocol that also
    closes a connection idle before its first request (uvicorn starts that timer only after a response)."""
    from kdedge_runtime.idle_protocol import idle_closing_protocol

    return {"host": config.host, "port": config.port, "log_level": "info", "access_log": False,
            "http": idle_closing_protocol(), "timeout_keep_alive": config.idle_timeout_seconds,
            "limit_concurrency": config.max_connections}


def serve(artifact_dir: str, config: ServeConfig = ServeConfig(), threads: int | None = None) -> None:
    """Load the artifact and serve it until interrupted; with `config.workers` > 1, in that many processes."""
    import uvicorn

    options = uvicorn_options(config)
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
