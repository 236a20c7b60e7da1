"""`kdedge-runtime serve`: a real uvicorn server on a free local port, queried over HTTP."""

import contextlib
import dataclasses
import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import uvicorn

from kdedge_runtime import Predictor
from kdedge_runtime.cli import main as runtime_main
from kdedge_runtime.serve import ServeConfig, create_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running(predictor, config, app=None, as_served: bool = False):
    """A uvicorn server for `predictor` (or `app`) on a free port of 127.0.0.1, stopped on exit; with
    `as_served`, uvicorn set up as `serve()` sets it up (its protocol, timeouts and limits)."""
    from kdedge_runtime.serve import uvicorn_options

    config = dataclasses.replace(config, port=free_port())
    app = app or create_app(predictor, config)
    options = {**uvicorn_options(config), "log_level": "warning"} if as_served else {
        "host": config.host, "port": config.port, "log_level": "warning"}
    instance = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not instance.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://{config.host}:{config.port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(artifact):
    with running(Predictor(artifact, threads=1), ServeConfig(max_texts=8, max_body_bytes=4000,
                                                             max_text_chars=500)) as url:
        yield url


def call(url, body=None, raw: bytes | None = None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_health(server, artifact):
    status, body = call(f"{server}/health")
    assert status == 200 and body["status"] == "ok"
    assert body["labels"] == ["negative", "neutral", "positive"]


def test_predict_matches_the_predictor(server, artifact):
    texts = ["the movie was great and fun", "the food was awful and sad"]
    status, body = call(f"{server}/predict", {"texts": texts})
    assert status == 200
    expected = Predictor(artifact, threads=1).predict(texts)  # the server's settings: INT8 kernels vary with threads
    assert [p["label"] for p in body["predictions"]] == [p.label for p in expected] == ["positive", "negative"]
    assert [p["score"] for p in body["predictions"]] == pytest.approx([p.score for p in expected], abs=1e-5)


@pytest.mark.parametrize(("raw", "status", "words"), [
    (b"{not json", 400, "not valid JSON"),
    (b'{"text": "hello"}', 422, '"texts"'),
    (b'{"texts": []}', 422, "empty"),
    (b'{"texts": ["fine", 3]}', 422, "list of strings"),
    (b'{"texts": ["   "]}', 422, "text #0 is empty"),
    (json.dumps({"texts": ["hi"] * 9}).encode(), 413, "limit is 8"),
    (json.dumps({"texts": ["x" * 600]}).encode(), 413, "characters"),
    (json.dumps({"texts": ["word " * 200] * 5}).encode(), 413, "bytes"),
])
def test_bad_requests_get_a_4xx_and_a_message(server, raw, status, words):
    got, body = call(f"{server}/predict", raw=raw)
    assert got == status and words in body["error"], body


def test_runtime_cli_predicts_and_refuses_a_non_artifact(artifact, tmp_path, capsys):
    assert runtime_main(["predict", str(artifact), "the movie was great"]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert line["text"] == "the movie was great" and line["label"] == "positive"
    assert runtime_main(["serve", str(tmp_path)]) == 2
    assert "not a kdedge artifact" in capsys.readouterr().err
    assert runtime_main(["serve", str(tmp_path / "missing")]) == 2
    assert "missing does not exist" in capsys.readouterr().err


def chunked_post(url: str, chunks: list[bytes]) -> tuple[int, dict]:
    """POST /predict with Transfer-Encoding: chunked and no Content-Length."""
    address = urllib.parse.urlparse(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.putrequest("POST", "/predict")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        try:
            for chunk in chunks:
                connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            connection.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole body was sent
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_chunked_body_is_counted_as_it_streams(server):
    body = json.dumps({"texts": ["the movie was great"]}).encode()
    assert chunked_post(server, [body[:10], body[10:]])[0] == 200  # chunked within the limit is fine
    status, answer = chunked_post(server, [b'{"texts": ["' + b"a" * 1000] + [b"a" * 1000] * 20 + [b'"]}'])
    assert status == 413 and "over the limit of 4,000 bytes" in answer["error"]
    assert call(f"{server}/health")[0] == 200  # and the server is fine afterwards


@pytest.mark.parametrize(("raw", "status", "words"), [
    (b'{"texts": ' + b"[" * 1500 + b"]" * 1500 + b"}", 400, "nests too deeply"),
    (b'{"texts": ["fine", "\\ud800 half a pair"]}', 422, "text #1 is not valid Unicode"),
    (b'{"texts": ["ok"]}\xff', 400, "not valid JSON"),
    (b"[1, 2]", 422, '"texts"'),
])
def test_odd_json_gets_a_4xx_not_a_500(server, raw, status, words):
    got, body = call(f"{server}/predict", raw=raw)
    assert got == status and words in body["error"], body
    assert call(f"{server}/predict", {"texts": ["the movie was great"]})[0] == 200


class SlowPredictor:
    """A Predictor whose every call takes a while, to hold requests in flight."""

    def __init__(self, predictor, seconds=0.6):
        self._predictor, self._seconds = predictor, seconds
        self.manifest, self.labels, self.tasks = predictor.manifest, predictor.labels, predictor.tasks
        self.folder, self.threads = predictor.folder, predictor.threads

    def predict(self, texts, batch_size=32):
        time.sleep(self._seconds)
        return self._predictor.predict(texts, batch_size)


def test_past_the_queue_limit_the_server_answers_503_with_retry_after(artifact):
    config = ServeConfig(max_queued_texts=4, max_texts=4)
    with running(SlowPredictor(Predictor(artifact, threads=1)), config) as url:
        def send(_):
            request = urllib.request.Request(f"{url}/predict", data=json.dumps({"texts": ["a", "b", "c"]}).encode())
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, None, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, error.headers.get("Retry-After"), json.loads(error.read())

        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(send, range(4)))
        statuses = sorted(status for status, _, _ in answers)
        assert statuses[0] == 200 and 503 in statuses  # 3 texts fit under 4; a second request's would not
        for status, retry_after, body in answers:
            if status == 503:
                assert retry_after == "1" and "the server is busy" in body["error"] and "limit is 4" in body["error"]
        assert send(0)[0] == 200  # once the queue drains, requests are served again


class BrokenPredictor(SlowPredictor):
    def predict(self, texts, batch_size=32):
        raise RuntimeError("onnxruntime fell over")


def test_an_internal_error_is_a_json_500_and_the_server_stays_up(artifact):
    with running(BrokenPredictor(Predictor(artifact, threads=1)), ServeConfig()) as url:
        status, body = call(f"{url}/predict", {"texts": ["hello"]})
        assert status == 500 and body == {"error": "internal error: RuntimeError; the request was not served"}
        assert call(f"{url}/health")[0] == 200


def fetch_text(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type"), response.read().decode()


def metric(text, name):
    """The value of one sample line of a Prometheus exposition, e.g. 'kdedge_texts_total'."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the metrics")


class Captured(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def access_log():
    """The access log's lines, whatever logging the process had; restored afterwards."""
    from kdedge_runtime.serve import ACCESS_LOG

    captured, level, handlers, propagate = Captured(), ACCESS_LOG.level, ACCESS_LOG.handlers[:], ACCESS_LOG.propagate
    ACCESS_LOG.handlers = [captured]
    ACCESS_LOG.setLevel("INFO")
    yield captured.lines
    ACCESS_LOG.handlers, ACCESS_LOG.propagate = handlers, propagate
    ACCESS_LOG.setLevel(level)


def test_metrics_count_requests_by_status_latency_and_texts(artifact, access_log):
    with running(Predictor(artifact, threads=1), ServeConfig(max_texts=8)) as url:
        assert call(f"{url}/predict", {"texts": ["good", "bad", "fine"]})[0] == 200
        assert call(f"{url}/predict", {"texts": ["ok"]})[0] == 200
        assert call(f"{url}/predict", {"texts": []})[0] == 422
        status, kind, text = fetch_text(f"{url}/metrics")
    assert status == 200 and kind.startswith("text/plain; version=0.0.4")
    assert metric(text, 'kdedge_requests_total{route="/predict",status="200"}') == 2
    assert metric(text, 'kdedge_requests_total{route="/predict",status="422"}') == 1
    assert metric(text, "kdedge_request_seconds_count") == 3 and metric(text, "kdedge_request_seconds_sum") > 0
    assert metric(text, 'kdedge_request_seconds_bucket{le="+Inf"}') == 3
    assert metric(text, 'kdedge_texts_per_request_bucket{le="1"}') == 1  # cumulative: 1 text, then 3
    assert metric(text, 'kdedge_texts_per_request_bucket{le="4"}') == 2
    assert metric(text, "kdedge_texts_total") == 4 and metric(text, "kdedge_texts_in_flight") == 0
    manifest = json.loads((artifact / "kdedge.json").read_text())
    info = next(line for line in text.splitlines() if line.startswith("kdedge_model_info{"))
    assert f'variant="{manifest["variant"]}"' in info and 'task="sequence-classification"' in info
    assert f'model_sha256="{manifest["hashes"]["model.onnx"]["sha256"][:12]}"' in info
    logged = [json.loads(line) for line in access_log]
    assert [(entry["path"], entry["status"], entry["texts"]) for entry in logged[:3]] == [
        ("/predict", 200, 3), ("/predict", 200, 1), ("/predict", 422, 0)]
    assert all(entry["ms"] > 0 and entry["method"] == "POST" and entry["client"].startswith("127.0.0.1")
               for entry in logged[:3])


def test_ready_is_distinct_from_live_and_refuses_at_the_work_bound(artifact):
    config = ServeConfig(max_queued_texts=3, max_texts=3)
    with running(SlowPredictor(Predictor(artifact, threads=1), seconds=1.0), config) as url:
        assert call(f"{url}/ready") == (200, {"ready": True, "in_flight": 0})
        with ThreadPoolExecutor(max_workers=1) as pool:
            busy = pool.submit(call, f"{url}/predict", {"texts": ["a", "b", "c"]})
            deadline = time.time() + 5
            while call(f"{url}/ready")[0] == 200 and time.time() < deadline:
                time.sleep(0.02)
            status, body = call(f"{url}/ready")
            assert status == 503 and body["ready"] is False and "3 texts in flight" in body["reason"]
            assert call(f"{url}/health")[0] == 200  # alive all along
            assert busy.result()[0] == 200
        assert call(f"{url}/ready")[0] == 200


def test_workers_build_their_app_from_the_environment(artifact, monkeypatch, access_log):
    from kdedge_runtime.serve import app_from_environment

    monkeypatch.delenv("KDEDGE_ARTIFACT", raising=False)
    with pytest.raises(RuntimeError, match="set KDEDGE_ARTIFACT"):
        app_from_environment()
    monkeypatch.setenv("KDEDGE_ARTIFACT", str(artifact))
    monkeypatch.setenv("KDEDGE_THREADS", "1")
    monkeypatch.setenv("KDEDGE_SERVE_CONFIG", json.dumps({"max_texts": 2}))
    with running(None, ServeConfig(), app=app_from_environment()) as url:
        assert call(f"{url}/predict", {"texts": ["a", "b", "c"]})[0] == 413
        assert call(f"{url}/predict", {"texts": ["a"]})[0] == 200


def test_serve_with_two_worker_processes(artifact):
    import subprocess
    import sys

    port = free_port()
    command = [sys.executable, "-m", "kdedge_runtime.cli", "serve", str(artifact), "--port", str(port),
               "--workers", "2", "--threads", "1"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline, status = time.time() + 60, None
        while time.time() < deadline and status != 200:
            try:
                status = call(f"http://127.0.0.1:{port}/ready")[0]
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        assert status == 200
        answers = [call(f"http://127.0.0.1:{port}/predict", {"texts": ["what a day"]}) for _ in range(6)]
        assert all(status == 200 for status, _ in answers)
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert output.count("Started server process") == 2, output
    assert '"path": "/predict", "status": 200' in output


class CountingPredictor(SlowPredictor):
    """A Predictor that counts its model calls."""

    def __init__(self, predictor):
        super().__init__(predictor, seconds=0.05)
        self.calls = []

    def predict(self, texts, batch_size=32):
        self.calls.append(len(texts))
        return super().predict(texts, batch_size)


def test_dynamic_batching_groups_concurrent_requests_without_changing_results(artifact):
    predictor = Predictor(artifact, threads=1)
    texts = [f"the game was {word} today" for word in ("fun", "awful", "okay", "great") * 8]
    expected = {text: p for text, p in zip(texts, predictor.predict(texts), strict=True)}
    counting = CountingPredictor(predictor)
    with running(counting, ServeConfig(max_batch_texts=64, batch_delay_ms=5)) as url:
        with ThreadPoolExecutor(max_workers=32) as pool:
            answers = list(pool.map(lambda text: call(f"{url}/predict", {"texts": [text]}), texts))
    assert all(status == 200 for status, _ in answers)
    for text, (_, body) in zip(texts, answers, strict=True):
        assert body["predictions"][0]["label"] == expected[text].label
        assert body["predictions"][0]["score"] == pytest.approx(expected[text].score, abs=1e-5)
    assert sum(counting.calls) == 32 and len(counting.calls) < 16  # grouped into few model calls


def test_serve_config_refuses_settings_that_cannot_work():
    for fields, words in (({"batch_size": 0}, "batch_size must be at least 1"),
                          ({"max_texts": 300, "max_queued_texts": 200}, "must not exceed max_queued_texts"),
                          ({"batch_delay_ms": -1}, "0 or more")):
        with pytest.raises(ValueError, match=words):
            ServeConfig(**fields)
