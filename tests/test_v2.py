"""The Open Inference Protocol (V2) on `kdedge-runtime serve`, queried with the ecosystems' own clients:
`tritonclient.http` (binary and JSON tensors) and the kserve SDK's REST client, against `Predictor.predict`."""

import asyncio
import json
import urllib.request

import numpy as np
import pytest
from test_serve import running

from kdedge_runtime import Predictor
from kdedge_runtime.serve import ServeConfig

tritonhttp = pytest.importorskip("tritonclient.http")
kserve = pytest.importorskip("kserve")
TEXTS = ["the movie report was lovely superb", "the food was awful and sad", "honestly just so", "the game was fun"]


def expected_outputs(predictor: Predictor, texts: list[str]) -> dict[str, object]:
    """What each V2 output should hold, read off the typed results of `Predictor.predict` (not off the
    server's own encoding code)."""
    found = predictor.predict(texts)
    tasks = predictor.manifest.tasks
    expected = {"truncated": np.array([p.truncated for p in found])}
    for task in tasks:
        prefix = f"{task.name}." if predictor.manifest.multitask else ""
        rows = [p.tasks[task.name] if predictor.manifest.multitask else p for p in found]
        if task.task == "token-classification":
            words = max(1, *(len(r.tags) for r in rows))
            expected[prefix + "entities"] = [[{"label": e.label, "start": e.start, "end": e.end, "text": e.text,
                                               "score": e.score} for e in r.entities] for r in rows]
            expected[prefix + "tags"] = [[*r.tags, *[""] * (words - len(r.tags))] for r in rows]
            expected[prefix + "tag_scores"] = np.array([[*r.tag_scores, *[0.0] * (words - len(r.tags))] for r in rows])
        else:
            expected[prefix + "label"] = [r.label for r in rows]
            expected[prefix + "probabilities"] = np.array([[r.probabilities[label] for label in task.labels]
                                                           for r in rows])
    return expected


def assert_matches(name: str, got, want) -> None:
    if isinstance(want, np.ndarray) and want.dtype != bool:
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64).reshape(want.shape), want, atol=1e-5, err_msg=name)
    elif isinstance(want, np.ndarray):
        assert np.asarray(got).reshape(want.shape).tolist() == want.tolist(), name
    elif name.endswith("entities"):
        for text_got, text_want in zip(got, want, strict=True):
            text_got = json.loads(text_got)
            assert [{k: v for k, v in e.items() if k != "score"} for e in text_got] == \
                   [{k: v for k, v in e.items() if k != "score"} for e in text_want], name
            assert [e["score"] for e in text_got] == pytest.approx([e["score"] for e in text_want], abs=1e-5)
    else:
        assert np.asarray(got).reshape(np.shape(want)).tolist() == want, name


def as_strings(array) -> list:
    return [value.decode() if isinstance(value, bytes) else value for value in np.asarray(array).reshape(-1)]


def triton_outputs(url: str, model: str, texts: list[str], binary: bool) -> dict:
    client = tritonhttp.InferenceServerClient(url.removeprefix("http://"))
    try:
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(model)
        metadata = client.get_model_metadata(model)
        tensor = tritonhttp.InferInput("text", [len(texts)], "BYTES")
        tensor.set_data_from_numpy(np.array([t.encode() for t in texts], dtype=np.object_), binary_data=binary)
        names = [output["name"] for output in metadata["outputs"]]
        requested = [tritonhttp.InferRequestedOutput(name, binary_data=binary) for name in names]
        result = client.infer(model, [tensor], outputs=requested, request_id="req-7")
        assert result.get_response()["id"] == "req-7"
        return {name: result.as_numpy(name) for name in names}
    finally:
        client.close()


def kserve_outputs(url: str, model: str, texts: list[str]) -> dict:
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    async def query():
        client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
        try:
            assert await client.is_server_live(url) and await client.is_server_ready(url)
            assert await client.is_model_ready(url, model)
            tensor = InferInput("text", [len(texts)], "BYTES", data=texts)
            response = await client.infer(url, InferRequest(model, infer_inputs=[tensor], request_id="k-1"),
                                          model_name=model)
            assert response.id == "k-1"
            return {output.name: output.data for output in response.outputs}
        finally:
            await client.close()

    return asyncio.run(query())


def check_every_client(url: str, model: str, predictor: Predictor, texts: list[str] = TEXTS) -> None:
    """tritonclient (binary and JSON) and kserve give what `Predictor.predict` gives, output by output."""
    expected = expected_outputs(predictor, texts)
    for binary in (True, False):
        got = triton_outputs(url, model, texts, binary)
        assert set(got) == set(expected)
        for name, want in expected.items():
            value = got[name] if got[name].dtype != object else np.array(as_strings(got[name]), dtype=object)
            assert_matches(name, value if value.dtype != object else value.tolist(), want)
    got = kserve_outputs(url, model, texts)
    assert set(got) == set(expected)
    for name, want in expected.items():
        assert_matches(name, got[name], want)


@pytest.fixture(scope="module")
def sequence_server(artifact):
    with running(Predictor(artifact, threads=1), ServeConfig(max_texts=8, max_body_bytes=8000,
                                                             max_text_chars=500)) as url:
        yield url


def test_official_clients_get_the_predictors_results(sequence_server, artifact):
    check_every_client(sequence_server, "artifact", Predictor(artifact, threads=1))


def test_ner_artifact_over_v2(ner_artifact):
    _, folder = ner_artifact
    with running(Predictor(folder, threads=1), ServeConfig()) as url:
        check_every_client(url, "artifact", Predictor(folder, threads=1))


def test_server_and_model_metadata(sequence_server):
    client = tritonhttp.InferenceServerClient(sequence_server.removeprefix("http://"))
    try:
        server = client.get_server_metadata()
        assert server["name"] == "kdedge-runtime" and "binary_tensor_data" in server["extensions"]
        model = client.get_model_metadata("artifact")
        assert model["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
        assert {(o["name"], o["datatype"]) for o in model["outputs"]} == {
            ("label", "BYTES"), ("probabilities", "FP32"), ("truncated", "BOOL")}
        assert model["parameters"]["labels"] == {"": ["negative", "neutral", "positive"]}
        assert client.is_model_ready("artifact", model_version="1") and not client.is_model_ready("nope")
    finally:
        client.close()


def post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def request_of(data=None, datatype="BYTES", shape=None, name="text", **extra) -> bytes:
    data = ["the movie was great"] if data is None else data
    tensor = {"name": name, "datatype": datatype, "shape": shape if shape is not None else [len(data)], "data": data}
    return json.dumps({"inputs": [tensor], **extra}).encode()


def binary_request(declared: int, section: bytes) -> tuple[bytes, dict]:
    """A request whose text travels in the binary extension: `declared` bytes said, `section` sent."""
    tensor = {"name": "text", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": declared}}
    header = json.dumps({"inputs": [tensor]}).encode()
    return header + section, {"Inference-Header-Content-Length": str(len(header))}


@pytest.mark.parametrize(("path", "body", "headers", "status", "words"), [
    ("artifact", request_of(datatype="FP32"), None, 400, "datatype 'FP32'"),
    ("artifact", request_of(shape=[3]), None, 400, "shape [3] but 1 elements"),
    ("artifact", request_of(shape=[1, 2]), None, 400, "send [n] or [n, 1]"),
    ("artifact", request_of(name="input_ids"), None, 400, 'missing input "text"'),
    ("artifact", b'{"inputs": []}', None, 400, 'missing input "text"'),
    ("artifact", b'{"outputs": []}', None, 400, '"inputs"'),
    ("nope", request_of(), None, 404, "unknown model 'nope'"),
    ("artifact/versions/2", request_of(), None, 404, "unknown version '2'"),
    ("artifact", request_of(outputs=[{"name": "logits"}]), None, 400, "unknown output 'logits'"),
    ("artifact", request_of(data=["a"] * 9), None, 413, "limit is 8"),
    ("artifact", request_of(data=["  "]), None, 400, "text #0 is empty"),
    ("artifact", request_of(data=[3]), None, 400, "text #0 is int"),
    ("artifact", request_of(data=[["a", ["b"]]], shape=[1, 1]), None, 400, "nests deeper"),
    ("artifact", b"{not json", None, 400, "not valid JSON"),
    ("artifact", b'{"inputs": 1' + b"0" * 5000 + b"}", None, 400, "cannot be read"),
    # binary tensor data: a section longer than its declared size, a header length past the body
    ("artifact", request_of(data=None) + b"\x05\x00\x00\x00hello",
     {"Inference-Header-Content-Length": str(len(request_of()))}, 400, "no binary_data_size"),
    ("artifact", *binary_request(9, b"\x02\x00\x00\x00hi"), 400, "binary_data_size 9 does not match the 6 bytes"),
    ("artifact", *binary_request(6, b"\xff\xff\x00\x00hi"), 400, "past its end"),
    ("artifact", request_of(), {"Inference-Header-Content-Length": "99999"}, 400, "not a byte count within"),
])
def test_bad_v2_requests_get_a_4xx_json_error(sequence_server, path, body, headers, status, words):
    got, answer = post(f"{sequence_server}/v2/models/{path}/infer", body, headers)
    assert got == status and words in answer["error"], answer
    got, answer = post(f"{sequence_server}/v2/models/artifact/infer", request_of(["the movie was great"]))
    assert got == 200 and answer["outputs"][0]["data"] == ["positive"]  # and it still serves


def test_an_oversized_binary_section_is_refused_before_it_is_read(sequence_server):
    tensor = {"name": "text", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 9000}}
    header = json.dumps({"inputs": [tensor]}).encode()
    body = header + (8996).to_bytes(4, "little") + b"a" * 8996
    got, answer = post(f"{sequence_server}/v2/models/artifact/infer", body,
                       {"Inference-Header-Content-Length": str(len(header))})
    assert got == 413 and "limit" in answer["error"]


def test_unknown_routes_and_methods_are_json(sequence_server):
    for path, method, status in (("/v3/nothing", "GET", 404), ("/predict", "GET", 405)):
        request = urllib.request.Request(sequence_server + path, method=method)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == status and "error" in json.loads(caught.value.read())


def test_a_truncated_text_is_flagged(sequence_server, artifact):
    long_text = " ".join(["great"] * 60)  # past the tiny artifact's 32 tokens
    got, answer = post(f"{sequence_server}/v2/models/artifact/infer", request_of([long_text, "fun"]))
    truncated = next(output for output in answer["outputs"] if output["name"] == "truncated")
    assert got == 200 and truncated["data"] == [True, False]
    assert [p.truncated for p in Predictor(artifact).predict([long_text, "fun"])] == [True, False]


def test_v2_requests_are_counted_by_route_not_by_path(sequence_server):
    post(f"{sequence_server}/v2/models/artifact/infer", request_of())
    post(f"{sequence_server}/v2/models/artifact/versions/1/infer", request_of())
    for path in ("/v2/models/x1/infer", "/v2/models/x2/ready", "/no/such/path/1", "/no/such/path/2"):
        try:
            urllib.request.urlopen(sequence_server + path, timeout=10)
        except urllib.error.HTTPError:
            pass
    with urllib.request.urlopen(f"{sequence_server}/metrics", timeout=10) as response:
        text = response.read().decode()
    routes = {line.split('route="')[1].split('"')[0] for line in text.splitlines()
              if line.startswith("kdedge_requests_total{")}
    assert "/v2/models/{name}/infer" in routes and "other" in routes
    assert not any("x1" in route or "such" in route for route in routes)  # no series per raw path


def test_a_number_too_long_to_read_is_a_400_on_both_protocols(sequence_server):
    # Python refuses to convert integers of more than 4,300 digits (a ValueError, once a 500)
    digits = b"1" + b"0" * 4400
    got, answer = post(f"{sequence_server}/predict", b'{"texts": ["ok"], "n": ' + digits + b"}")
    assert got == 400 and "number too long" in answer["error"]
    got, answer = post(f"{sequence_server}/v2/models/artifact/infer", b'{"inputs": [], "n": ' + digits + b"}")
    assert got == 400 and "cannot be read" in answer["error"]
