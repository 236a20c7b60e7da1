"""End to end: `compress` on the tiny teacher and data, then serve the artifact with the runtime."""

import json

import numpy as np
import pytest
from conftest import tiny_recipe

from kdedge.errors import ConfigError, DataError
from kdedge.pipeline.compress import compress
from kdedge_runtime import Predictor


@pytest.fixture(scope="module")
def compressed(tiny_teacher_dir, tiny_csv, tmp_path_factory):
    """One tiny run; `root / "gated_on"` records the texts the variants were gated and chosen on."""
    import kdedge.pipeline.compress as pipeline

    root = tmp_path_factory.mktemp("compress")
    recipe = tiny_recipe(tiny_teacher_dir, tiny_csv)
    real = pipeline.build_variants

    def spy(staging, encoder, logits, texts, *args, **kwargs):
        (root / "gated_on").write_text(json.dumps(list(texts)))
        return real(staging, encoder, logits, texts, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "build_variants", spy)
        result = compress(recipe, root / "artifact", root / "run")
    return recipe, result, root


def test_variants_are_chosen_on_dev_and_test_is_read_once_for_what_ships(compressed):
    """Selection on the test split would bias the reported figure: the gate, the tolerance and the choice
    see the dev split, and the one test figure per model is the shipped model's."""
    from kdedge.data.readers import load_task_data

    recipe, result, root = compressed
    data = load_task_data(recipe.data)
    assert json.loads((root / "gated_on").read_text()) == data.dev.texts != data.test.texts
    manifest = result.manifest
    assert set(manifest["metrics"]) == {"teacher", "student", "student_onnx"}  # no per-variant test figures
    assert {row["split"] for row in manifest["variants"]} == {"dev"}
    shipped = next(row for row in manifest["variants"] if row["chosen"])
    dev_logits = Predictor(root / "artifact").logits(data.dev.texts)
    dev_accuracy = float(np.mean(dev_logits.argmax(axis=1) == np.array(data.dev.labels)))
    assert shipped["score"] == pytest.approx(dev_accuracy)
    assert "dev" in (root / "artifact" / "README.md").read_text().split("## Variants")[1]


def test_artifact_folder_and_manifest(compressed):
    _, result, root = compressed
    folder = root / "artifact"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "kdedge.json", "model.onnx", "runtime",
                                                        "tokenizer.json"]
    manifest = json.loads((folder / "kdedge.json").read_text())
    for key in ("schema", "task", "labels", "max_length", "teacher", "student", "compression", "metrics", "hashes",
                "recipe", "parity"):
        assert key in manifest
    assert manifest["labels"] == ["negative", "neutral", "positive"]
    for model in ("teacher", "student", "student_onnx"):
        assert set(manifest["metrics"][model]) == {"accuracy", "macro_f1"}
    assert manifest["parity"]["fp32_max_abs_logit_difference"] <= 1e-4
    rows = {row["variant"]: row for row in manifest["variants"]}
    assert list(rows) == ["fp32", "int8-dynamic", "int8-static"]
    assert [row["variant"] for row in rows.values() if row["chosen"]] == [manifest["variant"]]
    for row in rows.values():
        assert row["latency_ms"] > 0 and row["file_bytes"] > 0 and row["score"] is not None
        assert not row["passed"] or row["agreement_with_fp32"] >= 0.99
    assert manifest["disk_bytes"]["student_onnx"] == rows[manifest["variant"]]["file_bytes"]


def test_compression_is_the_ratio_of_parameters_counted_by_torch(compressed):
    """Counted on the models themselves (the fine-tuned teacher as saved, the last kept student stage),
    not by the sizing formula that planned them."""
    from transformers import AutoModelForSequenceClassification

    from kdedge.distill.kept_stages import load_stage
    from kdedge.students import student_classes

    _, result, root = compressed
    teacher = AutoModelForSequenceClassification.from_pretrained(root / "run" / "teacher")
    teacher_params = sum(p.numel() for p in teacher.parameters())
    kept = load_stage(sorted(p for p in (root / "run" / "student-bilstm").iterdir() if p.is_dir())[-1])
    config_class, model_class = student_classes("bilstm")
    student = model_class(config_class(**kept.config))
    student.load_state_dict(kept.state)
    student_params = sum(p.numel() for p in student.parameters())
    manifest = result.manifest
    assert (manifest["teacher"]["params"], manifest["student"]["params"]) == (teacher_params, student_params)
    assert manifest["compression"] == pytest.approx(teacher_params / student_params, abs=1e-3)


def test_models_learn_the_task(compressed):
    _, result, _ = compressed
    metrics = result.manifest["metrics"]
    # three balanced classes: chance is 1/3; the keyword task is easy for a trained model
    assert metrics["teacher"]["accuracy"] > 0.9
    assert metrics["student_onnx"]["accuracy"] > 0.8


def test_student_size_follows_the_budget(compressed):
    recipe, result, _ = compressed
    assert abs(result.manifest["student"]["params"] - recipe.student.max_params) <= 0.1 * recipe.student.max_params


def test_runtime_predictions_equal_the_reported_metrics(compressed):
    recipe, result, root = compressed
    from kdedge.data.readers import load_task_data

    data = load_task_data(recipe.data)
    predictor = Predictor(root / "artifact")
    predictions = predictor.predict(data.test.texts, batch_size=7)
    accuracy = np.mean([p.label == data.labels[gold] for p, gold in zip(predictions, data.test.labels)])
    assert accuracy == pytest.approx(result.manifest["metrics"]["student_onnx"]["accuracy"])
    assert all(0 < p.score <= 1 for p in predictions)


def test_second_run_reuses_every_stage(compressed, tiny_teacher_dir, tiny_csv):
    recipe, first, root = compressed
    teacher_stamp = (root / "run" / "teacher" / "stage.json").stat().st_mtime_ns
    student_stamp = (root / "run" / "student-bilstm" / "1-distill" / "student.pt").stat().st_mtime_ns
    again = compress(recipe, root / "artifact", root / "run")
    assert (root / "run" / "teacher" / "stage.json").stat().st_mtime_ns == teacher_stamp
    assert (root / "run" / "student-bilstm" / "1-distill" / "student.pt").stat().st_mtime_ns == student_stamp
    assert again.manifest["metrics"] == first.manifest["metrics"]


def test_changed_distillation_retrains_only_the_student(compressed):
    recipe, _, root = compressed
    teacher_stamp = (root / "run" / "teacher" / "stage.json").stat().st_mtime_ns
    changed = recipe.with_overrides(["distill.epochs=1"])
    compress(changed, root / "artifact-2", root / "run")
    assert (root / "run" / "teacher" / "stage.json").stat().st_mtime_ns == teacher_stamp
    assert json.loads((root / "artifact-2" / "kdedge.json").read_text())["recipe"]["distill"]["epochs"] == 1


def test_bad_input_leaves_no_artifact(tiny_teacher_dir, tiny_csv, tmp_path):
    recipe = tiny_recipe(tiny_teacher_dir, tiny_csv, data={"label_column": "rating"})
    with pytest.raises(DataError):
        compress(recipe, tmp_path / "artifact", tmp_path / "run")
    assert not (tmp_path / "artifact").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".artifact")]


def test_never_finetune_an_untrained_head_is_refused(tiny_teacher_dir, tiny_csv, tmp_path):
    recipe = tiny_recipe(tiny_teacher_dir, tiny_csv, teacher={"finetune": "never"})
    with pytest.raises(ConfigError, match="no trained head"):
        compress(recipe, tmp_path / "artifact", tmp_path / "run")


def test_output_that_is_not_an_artifact_is_left_alone(tiny_teacher_dir, tiny_csv, tmp_path):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a kdedge artifact"):
        compress(tiny_recipe(tiny_teacher_dir, tiny_csv), tmp_path / "precious", tmp_path / "run")
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_transformer_student_end_to_end(tiny_teacher_dir, tiny_csv, tmp_path):
    recipe = tiny_recipe(tiny_teacher_dir, tiny_csv,
                         student={"kind": "transformer", "init": "etd-impt", "target": "3x", "max_params": None})
    result = compress(recipe, tmp_path / "artifact", tmp_path / "run")
    manifest = result.manifest
    assert abs(manifest["compression"] - 3) <= 0.3
    layers = manifest["student"]["config"]["num_layers"]
    assert manifest["fusion"]["Attention"] == layers and manifest["fusion"]["SkipLayerNormalization"] >= 2 * layers
    assert manifest["metrics"]["student_onnx"]["accuracy"] > 0.8
    # both INT8 variants quantize the fused graph and are measured
    for row in manifest["variants"]:
        assert row["score"] is not None and row["latency_ms"] > 0, row
    # a Hugging Face config rides along, so that transformers and optimum read the artifact too
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tmp_path / "artifact")
    assert config.num_hidden_layers == layers and config.id2label[2] == "positive"
    assert "config.json" in manifest["hashes"]
    # the artifact ships the student's trimmed tokenizer, and the runtime reads it
    predictor = Predictor(tmp_path / "artifact")
    assert predictor.predict(["the movie was wonderful"])[0].label == "positive"
    # the student keeps the position rows it can serve: max(data.max_length 32, 128), at most the teacher's 64,
    # so the bare model runs inputs longer than the runtime's max_length (kdedge bench times it at those)
    assert manifest["max_length"] == 32 and manifest["student"]["config"]["max_position"] == 64
    ids = np.full((2, 64), 7, dtype=np.int64)
    assert predictor.run(ids, np.ones_like(ids)).shape == (2, 3)


def test_the_student_shape_is_solved_once_per_run(tiny_teacher_dir, tiny_csv, tmp_path, monkeypatch):
    # solved before the teacher is fine-tuned (to refuse impossible targets early) and reused to build the student
    import kdedge.students.build as build

    calls = []
    counted = build.token_counts
    monkeypatch.setattr(build, "token_counts", lambda *args: calls.append(1) or counted(*args))
    compress(tiny_recipe(tiny_teacher_dir, tiny_csv, distill={"epochs": 1}), tmp_path / "artifact", tmp_path / "run")
    assert len(calls) == 1
