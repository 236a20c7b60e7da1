"""`kdedge-runtime export-triton`: a Triton model repository. Tritonserver cannot run here, so this checks
what can be: every config.pbtxt parses with Triton's own protobuf definitions, the ONNX model's inputs and
outputs are the config's, and the Python-backend models (run with a stand-in `triton_python_backend_utils`)
give Predictor's ids and Predictor's results."""

import importlib.util
import json
import sys
import types

import numpy as np
import onnxruntime as ort
import pytest
from conftest import sentiment_rows
from test_v2 import TEXTS, assert_matches, expected_outputs

from kdedge_runtime import Predictor
from kdedge_runtime.cli import main as runtime_main

text_format = pytest.importorskip("google.protobuf.text_format")


def triton_model_config_module():
    """Triton's ModelConfig protobuf, as tritonclient ships it, loaded alone: importing the
    `tritonclient.grpc` package would also register its service protos, which clash with kserve's."""
    spec = importlib.util.find_spec("tritonclient")
    if spec is None:
        pytest.skip("tritonclient is not installed")
    path = spec.submodule_search_locations[0] + "/grpc/model_config_pb2.py"
    module_spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


model_config_pb2 = triton_model_config_module()


class Tensor:
    def __init__(self, name, value):
        self._name, self._value = name, np.asarray(value)

    def name(self):
        return self._name

    def as_numpy(self):
        return self._value


class InferenceResponse:
    def __init__(self, output_tensors):
        self.output_tensors = {tensor.name(): tensor.as_numpy() for tensor in output_tensors}


@pytest.fixture
def backend(monkeypatch):
    """A stand-in for the module Triton's Python backend provides (only what kdedge's models use)."""
    module = types.SimpleNamespace(Tensor=Tensor, InferenceResponse=InferenceResponse,
                                   get_input_tensor_by_name=lambda request, name: request.get(name))
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", module)
    return module


def load_config(path):
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def python_model(repository, name, part):
    folder = repository / f"{name}_{part}"
    spec = importlib.util.spec_from_file_location(f"kdedge_triton_{part}", folder / "1" / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TritonPythonModel()
    config = load_config(folder / "config.pbtxt")
    model.initialize({"model_repository": str(folder), "model_version": "1",
                      "model_config": json.dumps({"output": [{"name": o.name} for o in config.output]})})
    return model


def run_ensemble(repository, name, texts):
    """The ensemble's three steps in order, as Triton would chain them (the ONNX step on onnxruntime)."""
    ensemble = load_config(repository / name / "config.pbtxt")
    tokenizer, postprocess = python_model(repository, name, "tokenizer"), python_model(repository, name, "postprocess")
    text = Tensor("text", np.array([[t.encode()] for t in texts], dtype=np.object_))
    [tokens] = [r.output_tensors for r in tokenizer.execute([{"text": text}])]
    session = ort.InferenceSession(str(repository / f"{name}_model" / "1" / "model.onnx"))
    feeds = {item.name: tokens[item.name] for item in session.get_inputs()}
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))
    request = {"text": text, "word_firsts": Tensor("", tokens["word_firsts"]),
               "truncated_in": Tensor("", tokens["truncated"]),
               **{name: Tensor(name, value) for name, value in outputs.items()}}
    [found] = [r.output_tensors for r in postprocess.execute([request])]
    assert set(found) == {output.name for output in ensemble.output}
    return found


@pytest.mark.parametrize("which", ["sequence", "ner"])
def test_the_repository_serves_what_the_v2_route_serves(which, artifact, ner_artifact, tmp_path, backend):
    folder = artifact if which == "sequence" else ner_artifact[1]
    assert runtime_main(["export-triton", str(folder), str(tmp_path / "repo"), "--name", "tweets"]) == 0
    repository = tmp_path / "repo"
    assert sorted(p.name for p in repository.iterdir()) == ["tweets", "tweets_model", "tweets_postprocess",
                                                            "tweets_tokenizer"]
    configs = {p.name: load_config(p / "config.pbtxt") for p in repository.iterdir()}
    onnx = configs["tweets_model"]
    assert onnx.backend == "onnxruntime" and onnx.max_batch_size == 64 and onnx.HasField("dynamic_batching")
    assert configs["tweets"].platform == "ensemble"
    assert [step.model_name for step in configs["tweets"].ensemble_scheduling.step] == [
        "tweets_tokenizer", "tweets_model", "tweets_postprocess"]
    session = ort.InferenceSession(str(repository / "tweets_model" / "1" / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == [i.name for i in onnx.input]
    assert [o.name for o in session.get_outputs()] == [o.name for o in onnx.output]
    for item, config in zip(session.get_outputs(), onnx.output, strict=True):
        assert len(item.shape) == len(config.dims) + 1  # Triton's dims leave out the batch dimension
    # every tensor an ensemble step reads is made by the ensemble's input or an earlier step
    made = {"text"}
    for step in configs["tweets"].ensemble_scheduling.step:
        assert set(step.input_map.values()) <= made, step.model_name
        made |= set(step.output_map.values())

    found = run_ensemble(repository, "tweets", TEXTS)
    predictor = Predictor(folder)
    for name, want in expected_outputs(predictor, TEXTS).items():
        got = found[name]
        if got.dtype == object:
            got = [[v.decode() for v in row] for row in got]
            got = [row[0] for row in got] if name.endswith(("label", "entities")) else got
            if name.endswith("tags"):
                width = len(want[0])
                assert all(v == "" for row in got for v in row[width:])
                got = [row[:width] for row in got]
        elif name.endswith("tag_scores"):
            got = got[:, : want.shape[1]]
        assert_matches(name, got, want)


def test_the_tokenizer_model_gives_predictors_ids_on_1000_texts(artifact, ner_artifact, tmp_path, backend):
    texts = [text for text, _ in sentiment_rows(985, seed=7)] + [
        "UPPER lower Title MiXed 42", "  spaces   inside ", "emoji 😀 and accents café", "\u200b zero width",
        "a " * 80, "x", "tab\tseparated\twords", "new\nline", "punctuation!!! ?? ...", "ünïcödé",
        "http://example.com/path?q=1", "#hashtag @user", "' quotes \"", "1,000.50", "end."]
    assert len(texts) == 1000
    for folder, name in ((artifact, "s"), (ner_artifact[1], "n")):
        runtime_main(["export-triton", str(folder), str(tmp_path / name), "--name", name])
        tokenizer = python_model(tmp_path / name, name, "tokenizer")
        found = tokenizer.encode(texts)
        encoder = Predictor(folder).encoder
        by_words = name == "n"
        ids, firsts = encoder.encode_words(texts) if by_words else (encoder.encode(texts), None)
        for row, expected in enumerate(ids):
            length = int(found["attention_mask"][row].sum())
            assert found["input_ids"][row, :length].tolist() == expected, texts[row]
            assert (found["input_ids"][row, length:] == encoder.pad_token_id).all()
            if by_words:
                assert found["word_firsts"][row, : len(firsts[row])].tolist() == firsts[row]


def test_export_triton_refuses_a_folder_that_is_not_empty(artifact, tmp_path, capsys):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "mine.txt").write_text("keep me")
    assert runtime_main(["export-triton", str(artifact), str(tmp_path / "repo")]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "repo").iterdir()] == ["mine.txt"]
