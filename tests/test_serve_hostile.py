"""A hostile client against `kdedge-runtime serve` (as `serve()` configures uvicorn): unbounded metric series,
label injection, idle and slow connections, a disconnect mid-body, a foreign Host, a missing API key. After
each, the server still answers correctly."""

import contextlib
import http.client
import json
import random
import socket
import time

import pytest
from test_serve import running

from kdedge_runtime import Predictor
from kdedge_runtime.serve import ServeConfig

prometheus_parser = pytest.importorskip("prometheus_client.parser")


@contextlib.contextmanager
def served(predictor, config):
    """The server as `serve()` runs it, on a free port; yields the port."""
    with running(predictor, config, as_served=True) as url:
        yield int(url.rsplit(":", 1)[1])


def request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body, {"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def still_serves(port, predictor, headers=None):
    status, body = request(port, "POST", "/predict", json.dumps({"texts": ["the movie was great"]}), headers)
    expected = predictor.predict(["the movie was great"])[0]
    found = json.loads(body)["predictions"][0]
    assert status == 200 and found["label"] == expected.label and abs(found["score"] - expected.score) <= 1e-5


@pytest.fixture(scope="module")
def predictor(artifact):
    return Predictor(artifact, threads=1)


def test_random_paths_leave_metrics_bounded_and_parseable(predictor):
    with served(predictor, ServeConfig(idle_timeout_seconds=30)) as port:
        rng = random.Random(0)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        alphabet = 'abc"\\{}=,%0A%22'
        for number in range(10_000):
            path = f"/{number}/" + "".join(rng.choice(alphabet) for _ in range(8))  # %0A is a newline once decoded
            connection.request("GET", path)
            connection.getresponse().read()
        connection.close()
        status, text = request(port, "GET", "/metrics")
        assert status == 200
        families = list(prometheus_parser.text_string_to_metric_families(text.decode()))
        requests_total = next(f for f in families if f.name == "kdedge_requests")
        routes = {sample.labels["route"] for sample in requests_total.samples}
        assert routes <= {"other", "/metrics", "/predict"} and len(requests_total.samples) <= 5
        assert sum(s.value for s in requests_total.samples if s.labels["route"] == "other") == 10_000
        still_serves(port, predictor)


def test_an_idle_connection_is_closed_within_the_timeout(predictor):
    with served(predictor, ServeConfig(idle_timeout_seconds=1.0)) as port:
        for sends_first in (b"", b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as idle:
                started = time.perf_counter()
                if sends_first:
                    idle.sendall(sends_first)
                    idle.recv(65536)  # the answer; then the connection sits idle
                while idle.recv(65536):
                    pass  # the server closes: recv returns b""
                assert time.perf_counter() - started < 3.0
        still_serves(port, predictor)


def test_a_slow_body_is_a_408_and_a_vanished_client_is_not_a_500(predictor):
    with served(predictor, ServeConfig(body_timeout_seconds=0.5, idle_timeout_seconds=10)) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
            slow.sendall(b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"texts\"")
            answer = slow.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive within 0.5 s" in answer
        with socket.create_connection(("127.0.0.1", port), timeout=5) as gone:
            gone.sendall(b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n{\"te")
        time.sleep(0.3)
        status, text = request(port, "GET", "/metrics")
        assert 'status="500"' not in text.decode()
        still_serves(port, predictor)


def test_a_foreign_host_is_refused_on_loopback(predictor):
    with served(predictor, ServeConfig()) as port:
        status, body = request(port, "GET", "/health", headers={"Host": "attacker.example:8000"})
        assert status == 421 and "is not served here" in json.loads(body)["error"]
        for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
            assert request(port, "GET", "/health", headers={"Host": host})[0] == 200
        still_serves(port, predictor)
    with served(predictor, ServeConfig(allowed_hosts=("models.internal",))) as port:
        assert request(port, "GET", "/health", headers={"Host": "models.internal"})[0] == 200
        assert request(port, "GET", "/health", headers={"Host": "localhost"})[0] == 421


def test_an_api_key_guards_every_route_but_the_probes(predictor):
    with served(predictor, ServeConfig(api_key="s3cret")) as port:
        status, body = request(port, "POST", "/predict", json.dumps({"texts": ["hi"]}))
        assert status == 401 and "API key" in json.loads(body)["error"]
        assert request(port, "GET", "/metrics", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert request(port, "GET", "/v2/models/artifact")[0] == 401
        for probe in ("/health", "/ready", "/v2/health/live", "/v2/health/ready"):
            assert request(port, "GET", probe)[0] == 200
        still_serves(port, predictor, {"Authorization": "Bearer s3cret"})


def test_backpressure_is_checked_before_the_body_is_read(predictor):
    from concurrent.futures import ThreadPoolExecutor

    from test_serve import SlowPredictor

    with served(SlowPredictor(predictor, seconds=1.5), ServeConfig(max_queued_texts=1, max_texts=1)) as port:
        with ThreadPoolExecutor(max_workers=1) as pool:
            busy = pool.submit(request, port, "POST", "/predict", json.dumps({"texts": ["hold the bound"]}))
            time.sleep(0.5)  # that text is in flight now
            with socket.create_connection(("127.0.0.1", port), timeout=5) as eager:
                started = time.perf_counter()
                eager.sendall(b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Length: 900000\r\n\r\n")
                answer = eager.recv(65536)  # the body is never sent: the 503 must not wait for it
            assert answer.startswith(b"HTTP/1.1 503") and time.perf_counter() - started < 1.0
            assert busy.result()[0] == 200
