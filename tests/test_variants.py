"""Variants: each is gated and measured, a failing one is not shipped, the fastest eligible one is."""

import io
import shutil

import numpy as np
import pytest
import torch
from rich.console import Console
from tokenizers import Tokenizer

from kdedge.data.metrics import classification_metrics
from kdedge.errors import ExportValidationError
from kdedge.export import variants as variants_module
from kdedge.export.artifact import MODEL_FILE, TOKENIZER_FILE, write_manifest
from kdedge.export.onnx import export_onnx
from kdedge.export.variants import VariantRow, build_variants, calibration_batches, variant_summary
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


def another_student(tmp_path):
    """A folder with a different network's model.onnx: its labels disagree with the staged fp32 on many rows."""
    other = tmp_path / "other"
    other.mkdir()
    export_student(other, seed=1)
    return other


@pytest.fixture
def staging(tiny_teacher_dir, tmp_path):
    folder = tmp_path / "staging"
    folder.mkdir()
    shutil.copy(tiny_teacher_dir / TOKENIZER_FILE, folder / TOKENIZER_FILE)
    export_student(folder, seed=0)
    write_manifest(folder, {"task": "sequence-classification", "labels": ["a", "b", "c"], "max_length": 16,
                            "pad_token_id": 0})
    encoder = TextEncoder(Tokenizer.from_file(str(folder / TOKENIZER_FILE)), 16, 0)
    logits = Predictor(folder, unsealed=True).logits(TEXTS)
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
        invariant = row.batch_label_changes == 0 and row.batch_score_difference <= config.batch_tolerance
        assert row.eligible == (row.passed and row.score >= rows[0].score - config.max_accuracy_drop
                                and invariant), row
    assert rows[0].score == 1.0 and rows[0].agreement_with_fp32 == 1.0
    # fixed scales (fp32, fp16, static INT8) give a text the same result in any batch; dynamic INT8's
    # per-batch activation scale does not, so it cannot ship by default
    assert [row.batch_score_difference <= 1e-4 for row in rows] == [True, False, True, True]
    assert rows[1].note.startswith("a text's result depends on the rest of its batch: ")
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
    other = another_student(tmp_path)

    def broken(source, target, calibration, **options):
        shutil.copy(other / MODEL_FILE, target)

    seen = []
    monkeypatch.setitem(variants_module.VARIANT_BUILDERS, "int8-dynamic", broken)
    monkeypatch.setitem(variants_module.VARIANT_BUILDERS, "fp16",
                        lambda source, target, calibration, **options: seen.append(options) or shutil.copy(source, target))
    log = io.StringIO()
    rows = build_variants(folder, encoder, logits, TEXTS, *scoring(labels), [],
                          ExportConfig(variants=("int8-dynamic", "fp16")), Reporter(Console(file=log, width=400)))
    assert "int8-dynamic: failed the gate" in log.getvalue()
    assert rows[2].passed and seen == [{}]  # the variant after a failed gate is still built and measured
    failed = rows[1]
    assert not failed.passed and not failed.chosen and (rows[0].chosen or rows[2].chosen)
    differs = int(round((1 - failed.agreement_with_fp32) * len(TEXTS)))
    assert failed.note == (f"failed the gate: predicted labels differ from fp32 on {differs} of {len(TEXTS)} dev "
                           f"rows ({failed.agreement_with_fp32:.2%} agree, 99.00% required); logits differ by up to "
                           f"{failed.max_abs_logit_difference:.3g}; not shipped")
    assert not (folder / "model.int8-dynamic.onnx").exists()
    shipped = Predictor(folder, unsealed=True).logits(TEXTS)  # fp32 or the identical fp16 copy ships, never the failed variant
    np.testing.assert_allclose(shipped, logits, atol=1e-6)


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
    other = another_student(tmp_path)
    monkeypatch.setitem(variants_module.VARIANT_BUILDERS, "int8-dynamic", copy_of(other))
    timings = iter([5.0, 1.0])
    monkeypatch.setattr("kdedge.export.variants._latency", lambda predictor, inputs: next(timings))
    config = ExportConfig(variants=("int8-dynamic",), min_agreement=0.0, max_accuracy_drop=0.0)  # gate off
    rows = build_variants(folder, encoder, logits, TEXTS, *scoring(labels), [], config, Reporter(quiet=True))
    variant = rows[1]
    assert variant.passed and variant.score < rows[0].score
    assert not variant.eligible and rows[0].chosen
    assert variant.note == (f"accuracy {variant.score:.4f} is {1.0 - variant.score:.4f} below fp32, more than "
                            "export.max_accuracy_drop = 0")
    assert not (folder / "model.int8-dynamic.onnx").exists()


def fixed_timings(monkeypatch, *milliseconds):
    """Latencies in the order build_variants measures (fp32, then each variant built), whatever the machine does."""
    timings = iter(milliseconds)
    monkeypatch.setattr("kdedge.export.variants._latency", lambda predictor, inputs: next(timings))


def test_kept_variants_go_to_variants_and_the_fastest_ships(staging, monkeypatch):
    folder, encoder, logits, labels = staging
    fp32_bytes = (folder / MODEL_FILE).read_bytes()
    fixed_timings(monkeypatch, 5.0, 1.0, 3.0)
    # batch_invariant off: the (batch-dependent) int8-dynamic is then the fastest eligible
    config = ExportConfig(variants=("fp32", "int8-dynamic", "fp16"), keep_variants=True, batch_invariant=False)
    rows = build_variants(folder, encoder, logits, TEXTS, *scoring(labels), [], config, Reporter(quiet=True))
    assert [row.variant for row in rows] == ["fp32", "int8-dynamic", "fp16"]  # "fp32" is never built twice
    assert [row.chosen for row in rows] == [False, True, False]
    kept = folder / "variants"
    assert sorted(p.name for p in kept.iterdir()) == ["model.fp16.onnx", "model.fp32.onnx"]
    assert (kept / "model.fp32.onnx").read_bytes() == fp32_bytes
    assert sorted(p.name for p in folder.iterdir()) == ["kdedge.json", MODEL_FILE, TOKENIZER_FILE, "variants"]
    assert (folder / MODEL_FILE).read_bytes() != fp32_bytes  # the int8 model took its place
    assert rows[0].to_dict() == {**rows[0].to_dict(), "variant": "fp32", "metric": "accuracy", "score": 1.0,
                                 "metrics": {"accuracy": 1.0, "macro_f1": 1.0}, "agreement_with_fp32": 1.0,
                                 "max_abs_logit_difference": 0.0, "passed": True, "eligible": True}


def test_a_variant_that_cannot_be_built_is_reported_and_the_rest_ship(staging, monkeypatch):
    folder, encoder, logits, labels = staging
    seen = {}

    def failing(source, target, calibration, **options):
        seen["int8-dynamic"] = options
        target.write_bytes(b"half a model")
        raise RuntimeError("unsupported operator\nmore detail")

    def fp16(source, target, calibration, **options):
        seen["fp16"] = options
        shutil.copy(source, target)

    monkeypatch.setitem(variants_module.VARIANT_BUILDERS, "int8-dynamic", failing)
    monkeypatch.setitem(variants_module.VARIANT_BUILDERS, "fp16", fp16)
    fixed_timings(monkeypatch, 5.0, 1.0)
    rows = build_variants(folder, encoder, logits, TEXTS, *scoring(labels), [],
                          ExportConfig(variants=("int8-dynamic", "fp16")), Reporter(quiet=True), per_channel=True)
    assert seen == {"int8-dynamic": {"per_channel": True}, "fp16": {}}  # per-channel is int8-dynamic's option only
    broken = rows[1]
    assert broken.note == "could not be built: RuntimeError: unsupported operator"
    assert broken.score is None and not broken.passed and not broken.chosen
    assert rows[2].chosen
    assert sorted(p.name for p in folder.iterdir()) == ["kdedge.json", MODEL_FILE, TOKENIZER_FILE]


def test_a_builder_that_fails_before_writing_anything(staging, monkeypatch):
    folder, encoder, logits, labels = staging

    seen = []

    def failing(source, target, calibration, **options):
        seen.append(options)
        raise ValueError("no graph " + "x" * 300)

    monkeypatch.setitem(variants_module.VARIANT_BUILDERS, "int8-dynamic", failing)
    log = io.StringIO()
    rows = build_variants(folder, encoder, logits, TEXTS, *scoring(labels), [], ExportConfig(variants=("int8-dynamic",)),
                          Reporter(Console(file=log, width=400)))
    assert rows[1].note == "could not be built: ValueError: " + ("no graph " + "x" * 300)[:200] and rows[0].chosen
    assert "int8-dynamic: could not be built: ValueError: no graph" in log.getvalue()  # the run log says so
    assert seen == [{"per_channel": False}]  # per-channel scales only when asked for


def test_the_accuracy_tolerance_includes_its_bound(staging, monkeypatch):
    folder, encoder, logits, labels = staging
    monkeypatch.setitem(variants_module.VARIANT_BUILDERS, "int8-dynamic", copy_of(folder))
    fixed_timings(monkeypatch, 5.0, 1.0)

    def evaluate(scores):  # fp32 scores 1.0, the variant exactly one point less (1.0 - 0.99 > 0.01 in floats)
        calls = iter([1.0, 0.99])
        return lambda logits: {"accuracy": next(calls)}

    config = ExportConfig(variants=("int8-dynamic",), max_accuracy_drop=0.01)
    rows = build_variants(folder, encoder, logits, TEXTS, evaluate(None), lambda logits: logits, "accuracy", [], config,
                          Reporter(quiet=True))
    assert rows[1].eligible and rows[1].chosen


def test_the_gate_counts_words_for_ner(staging, monkeypatch, tmp_path):
    folder, encoder, logits, labels = staging
    other = another_student(tmp_path)
    monkeypatch.setitem(variants_module.VARIANT_BUILDERS, "int8-dynamic", copy_of(other))
    rows = build_variants(folder, encoder, logits, TEXTS, lambda logits: {"entity_f1": 1.0}, lambda logits: logits,
                          "entity_f1", [], ExportConfig(variants=("int8-dynamic",)), Reporter(quiet=True))
    assert f"of {len(TEXTS)} dev words (" in rows[1].note


def test_variant_summary_line():
    rows = [VariantRow("fp32", 3_280_000, "accuracy", 0.7565, None, 1.0, 0.0, 3.72, passed=True, eligible=True),
            VariantRow("int8-dynamic", 1_020_000, "accuracy", 0.757, None, 0.9995, 0.1, 2.31, passed=True,
                       eligible=True, chosen=True),
            VariantRow("fp16"),
            VariantRow("int8-static", 1_005_001, "accuracy", 0.70, None, 0.9, 0.5, 3.76)]
    assert variant_summary(rows) == (
        "fp32 accuracy 0.7565 3.72 ms 3.28 MB · int8-dynamic accuracy 0.7570 2.31 ms 1.02 MB [bold]← shipped[/] · "
        "fp16 not built · int8-static accuracy 0.7000 3.76 ms 1.01 MB (failed gate)")


def test_calibration_draws_distinct_texts_reproducibly_in_batches(staging):
    _, encoder, _, _ = staging
    texts = [f"text number {i}" for i in range(40)]
    batches = calibration_batches(encoder, texts, size=40)
    assert [len(batch["input_ids"]) for batch in batches] == [32, 8]  # the default batch of 32
    ids = [tuple(row[row > 0]) for batch in batches for row in batch["input_ids"]]
    assert len(set(ids)) == 40  # every text once: drawn without replacement
    small = calibration_batches(encoder, texts, size=7, seed=3, batch_size=3)
    assert [len(batch["input_ids"]) for batch in small] == [3, 3, 1]
    assert all(set(batch) == {"input_ids", "attention_mask"} for batch in small)
    again = calibration_batches(encoder, texts, size=7, seed=3, batch_size=3)
    assert all((a["input_ids"] == b["input_ids"]).all() for a, b in zip(small, again, strict=True))
    other = calibration_batches(encoder, texts, size=7, seed=4, batch_size=3)
    assert any((a["input_ids"] != b["input_ids"]).any() for a, b in zip(small, other, strict=True))
    assert calibration_batches(encoder, [], size=7) == []


def test_latency_is_the_median_of_twenty_runs_after_three_warmups():
    calls = []

    class Counting:
        def run(self, input_ids, attention_mask):
            calls.append((input_ids, attention_mask))

    inputs = (np.zeros((2, 3), dtype=np.int64), np.ones((2, 3), dtype=np.int64))
    assert variants_module._latency(Counting(), inputs) >= 0
    assert len(calls) == 23 and all(call[0] is inputs[0] and call[1] is inputs[1] for call in calls)


def test_the_tolerance_note_says_how_far_below_fp32(staging, monkeypatch):
    folder, encoder, logits, labels = staging
    monkeypatch.setitem(variants_module.VARIANT_BUILDERS, "int8-dynamic", copy_of(folder))
    scores = iter([0.9, 0.75])  # fp32, then the variant
    rows = build_variants(folder, encoder, logits, TEXTS, lambda logits: {"accuracy": next(scores)},
                          lambda logits: logits, "accuracy", [], ExportConfig(variants=("int8-dynamic",)),
                          Reporter(quiet=True))
    assert not rows[1].eligible and rows[0].chosen
    assert rows[1].note == "accuracy 0.7500 is 0.1500 below fp32, more than export.max_accuracy_drop = 0.01"


def spread_across_batches(predictor, texts) -> tuple[int, float]:
    """Labels changed and the largest score change between each text alone and in shuffled, mixed batches."""
    alone = [predictor.predict([text])[0] for text in texts]
    changed, spread = 0, 0.0
    for seed, batch_size in ((0, 5), (1, 16)):
        order = np.random.default_rng(seed).permutation(len(texts))
        mixed = predictor.predict([texts[i] for i in order], batch_size=batch_size)
        for found, i in zip(mixed, order):
            changed += found.label != alone[i].label
            spread = max(spread, abs(found.score - alone[i].score))
    return changed, spread


@pytest.mark.parametrize("batch_invariant", [True, False])
def test_the_shipped_model_gives_a_text_the_same_result_in_any_batch(staging, monkeypatch, batch_invariant):
    folder, encoder, logits, labels = staging
    fixed_timings(monkeypatch, 5.0, 1.0, 3.0)  # fp32, int8-dynamic, int8-static: dynamic is the fastest
    config = ExportConfig(variants=("int8-dynamic", "int8-static"), batch_invariant=batch_invariant)
    rows = build_variants(folder, encoder, logits, TEXTS, *scoring(labels), calibration_batches(encoder, TEXTS, 16),
                          config, Reporter(quiet=True))
    shipped = next(row.variant for row in rows if row.chosen)
    changed, spread = spread_across_batches(Predictor(folder, unsealed=True), TEXTS + [text + " indeed" * 6 for text in TEXTS[:20]])
    if batch_invariant:  # dynamic INT8 is refused for it; the next fastest, static INT8, ships
        assert shipped == "int8-static" and changed == 0 and spread <= 1e-4
        assert rows[1].batch_score_difference > 1e-4 and not rows[1].eligible
    else:  # what the gate prevents: the same text's score moves with its neighbours
        assert shipped == "int8-dynamic" and spread > 1e-4


def test_an_fp32_export_whose_results_depend_on_the_batch_is_refused(staging, monkeypatch):
    folder, encoder, logits, labels = staging
    monkeypatch.setattr(variants_module, "batch_dependence", lambda *args: (2, 0.3))
    with pytest.raises(ExportValidationError, match="2 dev rows change label and probabilities move by up to 0.3"):
        build_variants(folder, encoder, logits, TEXTS, *scoring(labels), [], ExportConfig(variants=()),
                       Reporter(quiet=True))


def test_batch_dependence_compares_alone_and_shuffled_batches(staging):
    folder, encoder, logits, labels = staging
    predictor = Predictor(folder, unsealed=True)
    assert variants_module.batch_dependence(predictor, TEXTS, lambda rows: rows, logits) == (0, pytest.approx(0, abs=1e-6))
    shifted = logits.copy()
    shifted[3] += np.array([5.0, 0, 0], dtype=np.float32) - shifted[3]  # one row's reference made different
    changes, difference = variants_module.batch_dependence(predictor, TEXTS, lambda rows: rows, shifted)
    assert changes <= 1 and difference > 0.1
    assert variants_module.batch_dependence(predictor, [], lambda rows: rows, logits[:0]) == (0, 0.0)
