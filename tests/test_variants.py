"""Variants: each is gated and measured, a failing one is not shipped, the fastest eligible one is."""

import shutil

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from kdedge.data.metrics import classification_metrics
from kdedge.export import variants as variants_module
from kdedge.export.artifact import MODEL_FILE, TOKENIZER_FILE, write_manifest
from kdedge.export.onnx import export_onnx
from kdedge.export.variants import build_variants, calibration_batches
from kdedge.progress import Reporter
from kdedge.recipe import ExportConfig
from kdedge.students.bilstm import BiLSTMClassifier, BiLSTMConfig
from kdedge_runtime import Predictor
from kdedge_runtime.encoding import TextEncoder

TEXTS = [f"the movie was {word} and {other}" for word in ("good", "bad", "fine", "great", "awful")
         for other in ("long", "short", "loud", "quiet")] * 3


def scoring(labels):
    """What `compress` passes for sequence classification: test metrics, rows for the gate, the main metric."""
    return (lambda logits: classification_metrics(labels, logits.argmax(axis=1)), lambda logits: logits, "accuracy")


def export_student(folder, seed):
    torch.manual_seed(seed)
    student = BiLSTMClassifier(BiLSTMConfig(200, 16, 12, 3, 200)).eval()
    ids = torch.randint(1, 200, (2, 6))
    export_onnx(student, folder / MODEL_FILE, 17, (ids, torch.ones_like(ids)))


@pytest.fixture
def staging(tiny_teacher_dir, tmp_path):
    folder = tmp_path / "staging"
    folder.mkdir()
    shutil.copy(tiny_teacher_dir / TOKENIZER_FILE, folder / TOKENIZER_FILE)
    export_student(folder, seed=0)
    write_manifest(folder, {"task": "sequence-classification", "labels": ["a", "b", "c"], "max_length": 16,
                            "pad_token_id": 0})
    encoder = TextEncoder(Tokenizer.from_file(str(folder / TOKENIZER_FILE)), 16, 0)
    logits = Predictor(folder).logits(TEXTS)
    labels = logits.argmax(axis=1)  # fp32 is right on every row, so any disagreement costs accuracy
    return folder, encoder, logits, labels


def test_every_variant_is_measured_and_one_ships(staging):
    folder, encoder, logits, labels = staging
    config = ExportConfig(variants=("int8-dynamic", "int8-static", "fp16"))  # the shipped gates: 99%, one point
    rows = build_variants(folder, encoder, logits, TEXTS, *scoring(labels), calibration_batches(encoder, TEXTS, 16),
                          config, Reporter(quiet=True))
    assert [row.variant for row in rows] == ["fp32", "int8-dynamic", "int8-static", "fp16"]
    for row in rows:
        assert row.file_bytes > 0 and row.latency_ms > 0 and 0 <= row.score <= 1, row
        # each gate decided on the row's own measurements
        assert row.passed == (row.agreement_with_fp32 >= config.min_agreement), row
        assert row.eligible == (row.passed and row.score >= rows[0].score - config.max_accuracy_drop), row
    assert rows[0].score == 1.0 and rows[0].agreement_with_fp32 == 1.0
    fp16 = rows[3]  # half precision changes logits by rounding only: every label and the score stay
    assert fp16.agreement_with_fp32 == 1.0 and fp16.score == 1.0 and fp16.eligible
    assert 0 < fp16.max_abs_logit_difference < 1e-2
    assert fp16.file_bytes < rows[0].file_bytes
    dynamic = rows[1]
    assert dynamic.file_bytes < rows[0].file_bytes and dynamic.agreement_with_fp32 >= 0.9
    chosen = [row for row in rows if row.chosen]
    assert len(chosen) == 1 and chosen[0].latency_ms == min(row.latency_ms for row in rows if row.eligible)
    assert sorted(p.name for p in folder.iterdir()) == ["kdedge.json", MODEL_FILE, TOKENIZER_FILE]


def test_a_variant_below_the_gate_is_not_shipped_and_says_by_how_much(staging, monkeypatch, tmp_path):
    folder, encoder, logits, labels = staging
    other = tmp_path / "other"
    other.mkdir()
    export_student(other, seed=1)  # a different network: its labels disagree with fp32 on many rows

    def broken(source, target, calibration, **options):
        shutil.copy(other / MODEL_FILE, target)

    monkeypatch.setitem(variants_module.VARIANT_BUILDERS, "int8-dynamic", broken)
    rows = build_variants(folder, encoder, logits, TEXTS, *scoring(labels), [], ExportConfig(variants=("int8-dynamic",)),
                          Reporter(quiet=True))
    failed = rows[1]
    assert not failed.passed and not failed.chosen and rows[0].chosen
    assert "differ from fp32 on" in failed.note and f"of {len(TEXTS)} test rows" in failed.note
    assert "logits differ by up to" in failed.note
    assert not (folder / "model.int8-dynamic.onnx").exists()
    np.testing.assert_allclose(Predictor(folder).logits(TEXTS), logits, atol=1e-6)  # fp32 still ships


def copy_of(folder):
    def build(source, target, calibration, **options):
        shutil.copy(folder / MODEL_FILE, target)
    return build


def test_the_fastest_variant_within_the_accuracy_tolerance_ships(staging, monkeypatch):
    folder, encoder, logits, labels = staging
    monkeypatch.setitem(variants_module.VARIANT_BUILDERS, "int8-dynamic", copy_of(folder))
    timings = iter([5.0, 1.0])  # fp32, then the variant
    monkeypatch.setattr("kdedge.export.variants._latency", lambda predictor, inputs: next(timings))
    rows = build_variants(folder, encoder, logits, TEXTS, *scoring(labels), [], ExportConfig(variants=("int8-dynamic",)),
                          Reporter(quiet=True))
    assert rows[1].eligible and rows[1].chosen and not rows[0].chosen


def test_a_faster_variant_that_costs_too_much_accuracy_does_not_ship(staging, monkeypatch, tmp_path):
    folder, encoder, logits, labels = staging
    other = tmp_path / "other"
    other.mkdir()
    export_student(other, seed=1)
    monkeypatch.setitem(variants_module.VARIANT_BUILDERS, "int8-dynamic", copy_of(other))
    timings = iter([5.0, 1.0])
    monkeypatch.setattr("kdedge.export.variants._latency", lambda predictor, inputs: next(timings))
    config = ExportConfig(variants=("int8-dynamic",), min_agreement=0.0, max_accuracy_drop=0.0)  # gate off
    rows = build_variants(folder, encoder, logits, TEXTS, *scoring(labels), [], config, Reporter(quiet=True))
    variant = rows[1]
    assert variant.passed and variant.score < rows[0].score
    assert not variant.eligible and rows[0].chosen and "max_accuracy_drop" in variant.note
    assert not (folder / "model.int8-dynamic.onnx").exists()
