"""Bad input through the CLI: exit code 2, one line that names the problem and the fix, no traceback,
no artifact, and nothing expensive done first (no teacher fine-tuned)."""

import shutil

import pytest
from bad_input_cases import CASES, COMMAND_CASES, RUNTIME_CASES
from typer.testing import CliRunner

from kdedge.cli import app

runner = CliRunner()


def one_line(result) -> str:
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    return lines[0]


@pytest.fixture
def broken_teacher(tiny_teacher_dir, tmp_path):
    """A copy of the tiny teacher, for a test to damage."""
    folder = tmp_path / "teacher"
    shutil.copytree(tiny_teacher_dir, folder)
    return folder


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_leaves_nothing(case, broken_teacher, tiny_csv, tmp_path):
    extra, damage, words = CASES[case]
    if damage is not None:
        damage(broken_teacher)
    args = ["compress", "--teacher", str(broken_teacher), "--data", str(tiny_csv), "--text-column", "review",
            "--label-column", "stars", "--output", str(tmp_path / "artifact"), "--run-dir", str(tmp_path / "run"),
            "--set", "data.max_length=32", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    line = one_line(result)
    for word in words:
        assert word in line, line
    assert not (tmp_path / "artifact").exists()
    assert not (tmp_path / "run" / "teacher").exists()  # nothing was fine-tuned before the error
    assert not list(tmp_path.glob(".*partial*"))


def test_a_failed_extract_leaves_no_partial_folder(tiny_teacher_dir, tiny_csv, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("kdedge.pipeline.extract.torch.save", fail)
    result = runner.invoke(app, ["extract", str(tiny_teacher_dir), "--student", "bilstm", "--data", str(tiny_csv),
                                 "--text-column", "review",
                                 "--label-column", "stars", "--set", "student.target=null",
                                 "--set", "student.max_params=12000", "--set", "teacher.epochs=1",
                                 "--set", "data.max_length=32", "-o", str(tmp_path / "student"),
                                 "--run-dir", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert not (tmp_path / "student").exists() and not list(tmp_path.glob(".student.partial*"))


@pytest.mark.parametrize("case", sorted(COMMAND_CASES))
def test_bad_command_input_is_one_line(case, tiny_teacher_dir, tiny_csv, artifact, tmp_path):
    arguments, words = COMMAND_CASES[case]
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "notes.txt").write_text("mine")
    places = {"teacher": str(tiny_teacher_dir), "csv": str(tiny_csv), "tmp": str(tmp_path), "artifact": str(artifact)}
    arguments = [argument.format(**places) for argument in arguments]
    if arguments[0] in ("compress", "label") and "--run-dir" not in arguments:
        arguments += ["--run-dir", str(tmp_path / "run")]
    if arguments[0] == "compress" and "-o" not in arguments:
        arguments += ["-o", str(tmp_path / "artifact")]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    line = one_line(result)
    for word in words:
        assert word in line, line
    assert not (tmp_path / "artifact").exists() and not (tmp_path / "student").exists()
    assert (tmp_path / "occupied" / "notes.txt").read_text() == "mine"  # a user's folder is never touched
    assert not (tmp_path / "run" / "teacher").exists()
    if arguments[0] == "compress":  # a refused run leaves no run folder behind
        assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("case", sorted(RUNTIME_CASES))
def test_bad_artifacts_are_one_line_in_the_runtime_cli(case, artifact, tmp_path, capsys):
    from kdedge_runtime.cli import main as runtime_main

    folder = tmp_path / "artifact"
    shutil.copytree(artifact, folder)
    damage, words = RUNTIME_CASES[case]
    damage(folder)
    command = ["serve", str(folder), "--port", "1"] if case.startswith("serve") else ["predict", str(folder), "hi"]
    assert runtime_main(command) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err and captured.err.count("\n") == 1
    assert captured.err.startswith("error: ") and words in captured.err, captured.err


def test_a_numeric_text_column_says_the_columns_may_be_swapped(tiny_teacher_dir, tmp_path):
    data = tmp_path / "stars.csv"
    data.write_text("review,stars\n" + "".join(f"review number {i} was fine,{i % 5 + 1}\n" for i in range(60)))
    result = runner.invoke(app, ["compress", "--teacher", str(tiny_teacher_dir), "--data", str(data),
                                 "--text-column", "stars", "--label-column", "review", "-o", str(tmp_path / "a"),
                                 "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2
    line = one_line(result)
    assert "column 'stars'" in line and "holds numbers, not text" in line and "swapped?" in line
    assert not (tmp_path / "a").exists()
