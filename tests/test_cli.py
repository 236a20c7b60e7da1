import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdedge.cli import app

runner = CliRunner()


def tiny_args(teacher_dir, csv_path, tmp_path, *extra):
    return [
        "compress", "--teacher", str(teacher_dir), "--data", str(csv_path),
        "--text-column", "review", "--label-column", "stars",
        "--output", str(tmp_path / "artifact"), "--run-dir", str(tmp_path / "run"),
        "--set", "student.target=null", "--set", "student.max_params=12000",
        "--set", "teacher.epochs=10", "--set", "teacher.learning_rate=2e-3",
        "--set", "data.max_length=32", "--set", "data.test_size=300",
        "--set", "distill.epochs=2",  # each of the default recipe's three stages
        # this checks the command's wiring; the 99% INT8 gate is tested in test_pipeline and test_export,
        # and a 12k-parameter LSTM's INT8 copy may disagree on a few of these 300 rows
        "--set", "export.min_agreement=0.95", *extra,
    ]


def one_error_line(result) -> str:
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_compress_with_own_data_writes_an_artifact(tiny_teacher_dir, tiny_csv, tmp_path):
    result = runner.invoke(app, tiny_args(tiny_teacher_dir, tiny_csv, tmp_path, "--quiet"))
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "artifact" / "kdedge.json").read_text())
    assert manifest["recipe"]["name"] == "reviews"
    assert manifest["data"]["source"] == str(tiny_csv)
    assert "compression" in result.output and "test accuracy" in result.output


def test_wrong_column_is_one_line_and_no_artifact(tiny_teacher_dir, tiny_csv, tmp_path):
    args = tiny_args(tiny_teacher_dir, tiny_csv, tmp_path)
    args[args.index("review")] = "body"
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "column 'body' not found" in line and "review" in line
    assert not (tmp_path / "artifact").exists()


def test_missing_file_is_one_line(tiny_teacher_dir, tmp_path):
    result = runner.invoke(app, tiny_args(tiny_teacher_dir, tmp_path / "missing.csv", tmp_path))
    assert result.exit_code == 2
    assert "does not exist" in one_error_line(result)
    assert not (tmp_path / "artifact").exists()


def test_unknown_teacher_is_one_line(tiny_csv, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = runner.invoke(app, tiny_args("no-such-org/no-such-model", tiny_csv, tmp_path))
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "cannot load teacher" in line and "--teacher /path/to/model" in line
    assert not (tmp_path / "artifact").exists()


def test_bad_recipe_key_is_one_line(tmp_path):
    result = runner.invoke(app, ["compress", "--set", "distill.epoch=3", "--output", str(tmp_path / "a")])
    assert result.exit_code == 2
    assert "distill.epoch" in one_error_line(result)


def test_recipes_lists_the_default():
    result = runner.invoke(app, ["recipes"])
    assert result.exit_code == 0
    assert "sentiment-bilstm (default)" in result.output


def test_help_explains_compress():
    result = runner.invoke(app, ["compress", "--help"])
    assert result.exit_code == 0
    assert "--target" in result.output and "--set" in result.output


def test_extract_writes_a_hugging_face_model(tiny_teacher_dir, tiny_csv, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    args = ["extract", str(tiny_teacher_dir), "-o", str(tmp_path / "student"), "--target", "3x",
            "--init", "etd-impt", "--data", str(tiny_csv), "--text-column", "review", "--label-column", "stars",
            "--run-dir", str(tmp_path / "run"), "--set", "teacher.epochs=2", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "student" / "kdedge-student.json").read_text())
    assert abs(summary["compression"] - 3) <= 0.3 and summary["reconstructed"]
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "student").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "student")
    batch = tokenizer(["the movie was great"], return_tensors="pt")
    with torch.no_grad():
        assert model(**batch).logits.shape == (1, 3)
    assert model.config.num_hidden_layers <= 2
    # --no-reconstruct keeps the weights exactly as extracted (the teacher and its scores are reused)
    plain = tmp_path / "plain"
    result = runner.invoke(app, [*args[:2], "-o", str(plain), *args[4:], "--no-reconstruct"])
    assert result.exit_code == 0, result.output
    assert not json.loads((plain / "kdedge-student.json").read_text())["reconstructed"]
    unfitted = AutoModelForSequenceClassification.from_pretrained(plain)
    query = "bert.encoder.layer.0.attention.self.query.weight"
    assert unfitted.state_dict()[query].shape == model.state_dict()[query].shape
    assert not torch.equal(unfitted.state_dict()[query], model.state_dict()[query])


def test_init_that_does_not_fit_the_student_kind(tmp_path):
    result = runner.invoke(app, ["compress", "--student", "bilstm", "--init", "etd-impt", "-o", str(tmp_path / "a")])
    assert result.exit_code == 2
    assert "does not apply" in one_error_line(result)


def test_label_in_shards_then_compress_uses_the_cache(tiny_teacher_dir, tiny_csv, tmp_path):
    import yaml
    from conftest import tiny_recipe

    from kdedge.teacher.cache import TeacherCache

    recipe_file = tmp_path / "tiny.yaml"
    values = tiny_recipe(tiny_teacher_dir, tiny_csv, data={"max_transfer": 300}).to_dict()
    recipe_file.write_text(yaml.safe_dump(values))
    common = ["--recipe", str(recipe_file), "--run-dir", str(tmp_path / "run"), "--quiet"]
    assert runner.invoke(app, ["label", "--teacher-only", *common]).exit_code == 0
    assert (tmp_path / "run" / "teacher" / "stage.json").is_file()
    assert not (tmp_path / "run" / "teacher_cache").exists()
    for shard in ("0/2", "1/2"):
        result = runner.invoke(app, ["label", "--shard", shard, *common])
        assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "run" / "teacher_cache" / "transfer" / "meta.json").read_text())
    assert not TeacherCache(tmp_path / "run" / "teacher_cache", meta["key"], meta["chunk_rows"]).missing_chunks(
        "transfer", meta["rows"], ["logits"])
    result = runner.invoke(app, ["compress", *common, "--output", str(tmp_path / "artifact"),
                                 "--set", "export.min_agreement=0.95"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "artifact" / "kdedge.json").is_file()


def test_bad_shard_is_one_line(tmp_path):
    result = runner.invoke(app, ["label", "--shard", "3/2", "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "shard" in one_error_line(result)


def test_export_teacher_writes_a_servable_baseline(tiny_teacher_dir, tiny_csv, tmp_path):
    from kdedge_runtime import Predictor

    args = ["export-teacher", "--teacher", str(tiny_teacher_dir), "--data", str(tiny_csv),
            "--text-column", "review", "--label-column", "stars", "--output", str(tmp_path / "teacher"),
            "--run-dir", str(tmp_path / "run"), "--set", "teacher.epochs=10", "--set", "teacher.learning_rate=2e-3",
            "--set", "data.max_length=32", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "teacher" / "kdedge.json").read_text())
    assert manifest["student"]["kind"] == "teacher" and manifest["compression"] == 1.0
    assert manifest["fusion"]["Attention"] == 2 and manifest["parity"]["fp32_max_abs_logit_difference"] <= 1e-4
    assert {row["variant"] for row in manifest["variants"]} == {"fp32", "int8-dynamic", "int8-static"}
    assert manifest["metrics"]["teacher"]["accuracy"] > 0.9
    assert Predictor(tmp_path / "teacher").predict(["the movie was wonderful"])[0].label == "positive"


def options(**given):
    """The recipe `compress` would run with these command-line options (nothing is trained)."""
    from kdedge.cli import _recipe_with_options

    fields = ("recipe", "set_", "teacher", "data", "text_column", "label_column", "target", "student", "init",
              "max_params", "reconstruct")
    return _recipe_with_options(**{name: given.get(name) for name in fields})


@pytest.mark.parametrize("name", ["my file #1.csv", "[draft] x.csv", "2024-01-01.csv", "a: b.csv", "null.csv",
                                  "{braces}.csv", "'quoted'.csv", "yes"])
def test_file_names_are_taken_as_typed(name):
    recipe = options(data=name)
    assert recipe.data.source == name and recipe.name == Path(name).stem
    # a name with no file suffix that is not on disk reads as a hub dataset id (it stays the string typed)
    assert recipe.description == (f"hub dataset {name}" if name == "yes" else f"own data from {name}")


@pytest.mark.parametrize("column", ["no", "yes", "null", "123", "1e3", "on", "#", "a: b"])
def test_column_and_teacher_names_are_taken_as_typed(column):
    recipe = options(data="reviews.csv", text_column=column, label_column=column, teacher=column)
    assert (recipe.data.text_column, recipe.data.label_column, recipe.teacher.name) == (column, column, column)


def test_a_student_switch_on_a_recipe_with_no_sibling_for_that_kind():
    recipe = options(recipe="multitask-bilstm", student="transformer")
    assert recipe.name == "multitask-bilstm" and recipe.student.kind == "transformer" and recipe.student.init == "auto"
    assert recipe.student.casing is False  # the recipe's casing input is for BiLSTMs
    assert recipe.description.endswith("(student: transformer)")
    assert options(recipe="multitask-bilstm", student="bilstm").student.casing is True


@pytest.mark.parametrize("name, kind, sibling", [("ner-bilstm", "transformer", "ner-transformer"),
                                                 ("ner-transformer", "bilstm", "ner-bilstm"),
                                                 ("sentiment-transformer", "bilstm", "sentiment-bilstm"),
                                                 (None, "transformer", "sentiment-transformer"),
                                                 ("ner-bilstm", "bilstm", "ner-bilstm")])
def test_a_student_switch_on_a_builtin_recipe_takes_its_sibling_for_that_kind(name, kind, sibling):
    from kdedge.recipe import load_recipe

    # the sibling's learning rate and dropout (ner-bilstm's 2e-3 undid an extracted Transformer's start)
    recipe = options(recipe=name, student=kind, set_=["distill.epochs=3"])
    assert recipe.to_dict() == load_recipe(sibling).with_overrides(["distill.epochs=3"]).to_dict()
    assert options(recipe=name, student=kind, init="random").student.init == "random"


def test_set_keeps_typed_yaml_values_and_options_win():
    recipe = options(set_=["distill.epochs=3", "data.source=from-set.csv", "student.max_params=5000"],
                     data="from-option.csv", max_params=7000)
    assert recipe.distill.epochs == 3 and recipe.data.source == "from-option.csv"
    assert recipe.student.max_params == 7000 and recipe.student.target is None
    assert options(reconstruct=False).student.reconstruct is False


@pytest.mark.parametrize("value", ["no", "'no'", "auto", "bf16"])
def test_mixed_precision_no_reads_as_no(value, tmp_path):
    from kdedge.recipe import load_recipe

    expected = value.strip("'")
    assert options(set_=[f"distill.mixed_precision={value}"]).distill.mixed_precision == expected
    path = tmp_path / "recipe.yaml"
    path.write_text(f"version: 1\ndistill:\n  mixed_precision: {value}\n")
    assert load_recipe(path).distill.mixed_precision == expected


@pytest.mark.parametrize("assignment", ["distill.epochs=[1", "data.source={a: ", "distill.epochs=3: 4: 5"])
def test_a_malformed_set_value_is_one_line(assignment, tmp_path):
    result = runner.invoke(app, ["compress", "--set", assignment, "-o", str(tmp_path / "a"),
                                 "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2
    line = one_error_line(result)
    assert f"cannot read the value of --set {assignment!r}" in line and "quote a value" in line
    assert not (tmp_path / "a").exists()


def test_a_logged_run_fits_80_columns_and_json_is_machine_readable(tiny_teacher_dir, tiny_csv, tmp_path, monkeypatch):
    """`kdedge compress ... > log.txt`: no terminal, 80 columns; every table row on one or two lines, the
    variants' notes below their table; then `--json` (the kept stages make the rerun quick)."""
    monkeypatch.setenv("COLUMNS", "80")
    args = tiny_args(tiny_teacher_dir, tiny_csv, tmp_path, "--set", "export.variants=[int8-dynamic, int8-static]",
                     "--set", "export.batch_tolerance=0")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    log = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in log), max(log, key=len)
    variant_rows = [line for line in log if line.split()[:1] and line.split()[0] in ("fp32", "int8-dynamic",
                                                                                      "int8-static")]
    assert [row.split()[0] for row in variant_rows] == ["fp32", "int8-dynamic", "int8-static"]  # one line each
    table_rows = [line for line in log if line.startswith("│")]
    labels = [row.split("│")[1].strip() for row in table_rows]
    assert sum(1 for label in labels if label) >= 6 and labels.count("") <= len(labels) // 2  # rows: 1-2 lines
    manifest = json.loads((tmp_path / "artifact" / "kdedge.json").read_text())
    assert any(row["note"] for row in manifest["variants"])  # tolerance 0: dynamic INT8 is held back, with a note
    for number, row in enumerate((row for row in manifest["variants"] if row["note"]), start=1):
        assert any(line.startswith(f"[{number}] ") for line in log), number

    rerun = runner.invoke(app, [*args, "--json", "--quiet"])
    assert rerun.exit_code == 0, rerun.output
    record = json.loads(rerun.stdout)  # the rerun re-exports (and may time its variants differently)
    assert record["artifact"] == str(tmp_path / "artifact")
    assert record["manifest"] == json.loads((tmp_path / "artifact" / "kdedge.json").read_text())


def test_version():
    from kdedge import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith(f"kdedge {__version__} (kdedge-runtime ")


def test_a_student_below_the_bar_warns_and_strict_fails(tiny_teacher_dir, tiny_csv, tmp_path):
    """A student that barely trains (learning rate 1e-9) keeps far less than 95% of its teacher: the run
    writes its artifact, says so in one warning, and with --strict exits with status 3."""
    from kdedge.data.intervals import wilson_interval

    args = tiny_args(tiny_teacher_dir, tiny_csv, tmp_path, "--set", "distill.stages=[]", "--set",
                     "distill.learning_rate=1e-9", "--set", "distill.epochs=1", "--quiet")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "warning: the student keeps" in result.stderr and "below the bar of 95%" in result.stderr
    manifest = json.loads((tmp_path / "artifact" / "kdedge.json").read_text())
    assert manifest["quality"]["verdict"] == "below"
    test_rows = manifest["data"]["test"]
    for model in ("teacher", "student", "student_onnx"):
        expected = wilson_interval(manifest["metrics"][model]["accuracy"], test_rows)
        assert manifest["intervals"][model]["accuracy"] == pytest.approx(expected, abs=1e-6)
    card = (tmp_path / "artifact" / "README.md").read_text()
    low, high = manifest["intervals"]["student_onnx"]["accuracy"]
    assert f"({low:.4f}-{high:.4f})" in card and "**Quality bar:**" in card
    strict = runner.invoke(app, [*args, "--strict"])
    assert strict.exit_code == 3 and "below the bar" in strict.stderr


def test_a_teacher_that_learned_nothing_is_the_warning_and_strict_fails(tiny_teacher_dir, tiny_csv, tmp_path):
    """A teacher fine-tuned at learning rate 1e-9 keeps its random head: whatever its student keeps of it,
    the run warns that the teacher is no better than the majority label, and --strict exits with 3."""
    args = tiny_args(tiny_teacher_dir, tiny_csv, tmp_path, "--set", "teacher.learning_rate=1e-9",
                     "--set", "distill.stages=[]", "--set", "distill.epochs=1", "--quiet", "--strict")
    result = runner.invoke(app, args)
    assert result.exit_code == 3, result.output
    assert "warning: the teacher learned too little on" in result.stderr
    assert "no better than always answering" in result.stderr
    manifest = json.loads((tmp_path / "artifact" / "kdedge.json").read_text())
    assert manifest["quality"]["verdict"] == "weak-teacher"
    assert "Warning: the teacher learned too little" in (tmp_path / "artifact" / "README.md").read_text()
