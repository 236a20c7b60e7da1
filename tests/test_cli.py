import json

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
        "--set", "distill.epochs=6", *extra,
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
