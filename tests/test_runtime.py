"""kdedge-runtime: a lean import, and serving an artifact without kdedge in the way."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import sentiment_rows

from kdedge_runtime import ArtifactError, Predictor


def test_import_does_not_load_torch_or_transformers():
    code = ("import sys, kdedge_runtime; "
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


def test_batching_does_not_change_results(artifact):
    # dynamic INT8 quantizes activations with per-batch ranges, so scores may move by a hair with the
    # batch's contents; padding itself changes nothing (see test_bilstm)
    predictor = Predictor(artifact)
    texts = [("the game was " + "really " * (i % 9) + ("fun" if i % 2 else "boring")) for i in range(40)]
    one_by_one = [predictor.predict([text])[0] for text in texts]
    batched = predictor.predict(texts, batch_size=16)
    assert [p.label for p in batched] == [p.label for p in one_by_one]
    assert max(abs(a.score - b.score) for a, b in zip(batched, one_by_one)) < 0.05


def test_threads_share_one_predictor(artifact):
    predictor = Predictor(artifact)
    texts = [("my day " + "so " * (i % 11) + ("happy" if i % 3 else "sad")) for i in range(64)]
    expected = predictor.predict(texts, batch_size=8)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: predictor.predict(texts, batch_size=8), range(16)))
    assert all(result == expected for result in results)


def test_single_string_is_a_clear_type_error(artifact):
    with pytest.raises(TypeError, match="list of texts"):
        Predictor(artifact).predict("just one text")


def test_folder_without_manifest(tmp_path):
    with pytest.raises(ArtifactError, match="kdedge.json is missing"):
        Predictor(tmp_path)
