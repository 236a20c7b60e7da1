"""`kdedge-runtime serve`: a real uvicorn server on a free local port, queried over HTTP."""

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
import uvicorn

from kdedge_runtime import Predictor
from kdedge_runtime.cli import main as runtime_main
from kdedge_runtime.serve import ServeConfig, create_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(artifact):
    config = ServeConfig(port=free_port(), max_texts=8, max_body_bytes=4000, max_text_chars=500)
    app = create_app(Predictor(artifact, threads=1), config)
    instance = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not instance.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://{config.host}:{config.port}"
    instance.should_exit = True
    thread.join(timeout=10)


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
