"""kdedge-runtime: a lean import, and serving an artifact without kdedge in the way."""

import json
import random
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import sentiment_rows

from kdedge_runtime import ArtifactError, InputError, KdedgeRuntimeError, Predictor


def test_import_does_not_load_torch_or_transformers():
    code = ("import sys, kdedge_runtime, kdedge_runtime.serve, kdedge_runtime.v2, kdedge_runtime.batching, "
            "kdedge_runtime.triton, kdedge_runtime.predict_file, kdedge_runtime.cli, kdedge_runtime.bench.command, "
            "kdedge_runtime.bench.timing, kdedge_runtime.bench.scenarios, kdedge_runtime.bench.compare; "
            "loaded = [m for m in ('torch', 'transformers', 'kdedge') if m in sys.modules]; "
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_predict_gives_the_known_labels_with_their_probabilities(artifact):
    # the artifact was distilled on texts whose label is their sentiment word; these are new texts
    rows = [row for row in sentiment_rows(200, seed=99) if row not in set(sentiment_rows(900, seed=1))][:80]
    texts, expected = [text for text, _ in rows], [label for _, label in rows]
    predictor = Predictor(artifact, threads=1)
    predictions = predictor.predict(texts)
    right = sum(p.label == label for p, label in zip(predictions, expected, strict=True))
    assert right >= 0.9 * len(rows), f"{right} of {len(rows)} right"
    logits = predictor.logits(texts)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    assert [p.label for p in predictions] == [predictor.labels[i] for i in logits.argmax(axis=1)]
    assert [p.score for p in predictions] == pytest.approx(probabilities.max(axis=1).tolist(), abs=1e-6)
    assert predictor.predict([]) == []


def test_a_texts_result_does_not_depend_on_its_batch(artifact):
    # the shipped variant is chosen batch-invariant (export.batch_invariant): alone, in length buckets,
    # shuffled among other texts of other lengths, or from 8 threads at once, a text keeps its label and
    # its score within 1e-4
    predictor = Predictor(artifact, threads=2)
    texts = [("the game was " + "really " * (i % 9) + ("fun" if i % 2 else "boring") + " ok" * (i % 5))
             for i in range(48)]
    alone = [predictor.predict([text])[0] for text in texts]

    def agree(results):
        assert [result.label for result in results] == [result.label for result in alone]
        assert max(abs(a.score - b.score) for a, b in zip(results, alone)) <= 1e-4

    agree(predictor.predict(texts, batch_size=16))
    for seed in range(3):
        order = random.Random(seed).sample(range(len(texts)), len(texts))
        mixed = predictor.predict([texts[i] for i in order], batch_size=5 + seed)
        agree([mixed[order.index(i)] for i in range(len(texts))])

    def one_request(seed):  # each thread its own mix and batch size, like requests batched together
        order = random.Random(100 + seed).sample(range(len(texts)), 20)
        found = predictor.predict([texts[i] for i in order], batch_size=1 + seed)
        return order, found

    with ThreadPoolExecutor(max_workers=8) as pool:
        for order, found in pool.map(one_request, range(8)):
            assert [p.label for p in found] == [alone[i].label for i in order]
            assert max(abs(p.score - alone[i].score) for p, i in zip(found, order)) <= 1e-4


def test_threads_share_one_predictor(artifact):
    predictor = Predictor(artifact)
    texts = [("my day " + "so " * (i % 11) + ("happy" if i % 3 else "sad")) for i in range(64)]
    expected = predictor.predict(texts, batch_size=8)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: predictor.predict(texts, batch_size=8), range(16)))
    assert all(result == expected for result in results)


def test_bad_texts_are_an_input_error_of_the_runtime_family(artifact):
    predictor = Predictor(artifact)
    for bad, words in (("just one text", "list of texts"), (["fine", 3], "text #1 is int"), (7, "not int")):
        with pytest.raises(InputError, match=words) as caught:
            predictor.predict(bad)
        assert isinstance(caught.value, KdedgeRuntimeError) and isinstance(caught.value, ValueError)
    with pytest.raises(KdedgeRuntimeError):
        Predictor(artifact.parent / "no-such-folder")


def test_folder_without_manifest(tmp_path):
    with pytest.raises(ArtifactError, match="kdedge.json is missing"):
        Predictor(tmp_path)


@pytest.fixture
def copy_of_artifact(artifact, tmp_path):
    folder = tmp_path / "artifact"
    shutil.copytree(artifact, folder)
    return folder


def without_hashes(folder):
    manifest = json.loads((folder / "kdedge.json").read_text())
    manifest.pop("hashes")
    (folder / "kdedge.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(("file", "damage", "words"), [
    ("model.onnx", lambda data: data[: len(data) // 2], "bytes where kdedge.json records"),
    ("model.onnx", lambda data: data[:-1] + bytes([data[-1] ^ 1]), "SHA-256 differs"),
    ("tokenizer.json", lambda data: data.replace(b'"[UNK]"', b'"[XXX]"', 1), "SHA-256 differs"),  # same size
])
def test_a_changed_or_damaged_file_is_refused_by_name(copy_of_artifact, file, damage, words):
    path = copy_of_artifact / file
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ArtifactError, match=f"{file} in .* was changed or damaged") as error:
        Predictor(copy_of_artifact)
    assert words in str(error.value) and "copy the artifact folder again" in str(error.value)


def test_unhashed_files_are_refused_and_broken_ones_are_an_artifact_error(copy_of_artifact):
    without_hashes(copy_of_artifact)
    model = copy_of_artifact / "model.onnx"
    model.write_bytes(model.read_bytes()[:1000])
    with pytest.raises(ArtifactError, match="has no hash in kdedge.json"):
        Predictor(copy_of_artifact)  # served: every file must be hashed
    with pytest.raises(ArtifactError, match="model.onnx in .* cannot be loaded by onnxruntime"):
        Predictor(copy_of_artifact, unsealed=True)  # kdedge's own staging use: still parsed safely


def test_a_broken_tokenizer_is_an_artifact_error(copy_of_artifact, artifact):
    without_hashes(copy_of_artifact)
    (copy_of_artifact / "tokenizer.json").write_text('{"version": "1.0", "model": ')
    with pytest.raises(ArtifactError, match="tokenizer.json in .* is not a tokenizer"):
        Predictor(copy_of_artifact, unsealed=True)


def test_the_runtime_cli_says_so_in_one_line(copy_of_artifact, capsys):
    from kdedge_runtime.cli import main as runtime_main

    model = copy_of_artifact / "model.onnx"
    model.write_bytes(model.read_bytes()[:-10])
    assert runtime_main(["predict", str(copy_of_artifact), "the movie was great"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: model.onnx in ")


def test_an_untouched_artifact_loads(artifact):
    assert Predictor(artifact).predict(["the movie was great"])[0].label == "positive"
