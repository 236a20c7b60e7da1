"""Bad input through the CLI: exit code 2, one line that names the problem and the fix, no traceback,
no artifact, and nothing expensive done first (no teacher fine-tuned)."""

import shutil

import pytest
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


def damage_weights(folder):
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])


def damage_tokenizer(folder):
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "WordPiece", "vocab": ')


CASES = {
    # name: (extra arguments, teacher damage, words the one line must contain)
    "impossible target": (["--target", "1000000x"], None, ["no BiLSTM student has about", "reachable targets"]),
    "impossible target, transformer": (["--target", "1000000x", "--student", "transformer"], None,
                                       ["no Transformer student has about", "reachable targets"]),
    "max_length beyond the teacher's positions": (["--set", "data.max_length=100"], None,
                                                  ["data.max_length = 100 is longer than", "64 positions"]),
    "test split rounds to zero rows": (["--set", "data.test_size=0.0001"], None,
                                       ["data.test_size = 0.0001 leaves no test rows", "raise data.test_size"]),
    "dev split rounds to zero rows": (["--set", "data.dev_size=0.0001"], None, ["leaves no dev rows"]),
    "damaged teacher weights": ([], damage_weights, ["cannot read teacher weights", "save_pretrained"]),
    "damaged teacher tokenizer": ([], damage_tokenizer, ["cannot read the tokenizer of teacher", "save_pretrained"]),
    "malformed --set": (["--set", "distill.epochs=[1"], None, ["cannot read the value of --set"]),
    "hidden layer out of range": (["--set", "distill.stages=[{name: r, losses: {hidden_states: 1}}]",
                                   "--set", 'distill.hidden_layers=["-1:9"]'], None,
                                  ["distill.hidden_layers pair -1:9 is out of range", "the teacher 0..2"]),
    "unquoted layer pair": (["--set", "distill.attention_layer=2:6"], None,
                            ["cannot read layer pair '126'", "in quotes", "base-60"]),
    "unknown recipe key": (["--set", "distill.epoch=3"], None, ["unknown recipe key 'distill.epoch'"]),
    "wrong text column": (["--text-column", "body"], None, ["body"]),
    "attention layer out of range": (["--student", "transformer", "--target", "3x", "--set",
                                      "distill.stages=[{name: a, losses: {attention: 1}}]",
                                      "--set", 'distill.attention_layer="-1:9"'], None,
                                     ["distill.attention_layer '-1:9' is out of range", "the teacher 0..1"]),
}


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


# More of compress, and the other commands: each (arguments, words the one line must contain). The
# arguments may name {teacher}, {csv}, {tmp} and {artifact} (a finished tiny artifact).
COMMAND_CASES = {
    "compress: unknown recipe": (["compress", "--recipe", "no-such-recipe"], ["no recipe named 'no-such-recipe'"]),
    "compress: a mistyped teacher alias": (["compress", "--teacher", "minlm"], ["no teacher named 'minlm'",
                                                                               "did you mean 'minilm'?"]),
    "compress: missing data file": (["compress", "--teacher", "{teacher}", "--data", "{tmp}/missing.csv"],
                                    ["missing.csv"]),
    "compress: unknown student kind": (["compress", "--student", "cnn"], ["student.kind", "cnn"]),
    "compress: init of the other kind": (["compress", "--student", "transformer", "--init", "pca"],
                                         ["does not apply to a transformer student"]),
    "compress: target that does not compress": (["compress", "--target", "0.5x"], ["would not compress"]),
    "compress: unreadable target": (["compress", "--target", "thirty"], ["cannot read target 'thirty'"]),
    "compress: unreadable latency": (["compress", "--latency", "fast"], ["cannot read latency 'fast'", "5ms@32x128"]),
    "compress: a folder that is not a dataset": (["compress", "--teacher", "{teacher}", "--data", "{tmp}"],
                                                 ["not one written by Dataset.save_to_disk"]),
    "bench: texts file without its column": (["bench", "{artifact}", "--texts", "{csv}"], ["has no column 'text'"]),
    "compress: output is not an artifact": (["compress", "--teacher", "{teacher}", "--data", "{csv}",
                                             "--text-column", "review", "--label-column", "stars",
                                             "-o", "{tmp}/occupied"], ["exists and is not a kdedge artifact"]),
    "compress: agreement gate above 1": (["compress", "--set", "export.min_agreement=2"],
                                         ["export.min_agreement", "(0, 1]"]),
    "compress: unknown label column": (["compress", "--teacher", "{teacher}", "--data", "{csv}",
                                        "--text-column", "review", "--label-column", "score"], ["score"]),
    "extract: init of the other kind": (["extract", "{teacher}", "-o", "{tmp}/student", "--student", "transformer",
                                         "--init", "pca"], ["does not apply to a transformer student"]),
    "extract: output not empty": (["extract", "{teacher}", "-o", "{tmp}/occupied", "--student", "bilstm",
                                   "--data", "{csv}", "--text-column", "review", "--label-column", "stars",
                                   "--set", "data.max_length=32", "--run-dir", "{tmp}/run"], ["is not empty"]),
    "label: shard out of range": (["label", "--shard", "3/2"], ["shard '3/2' is out of range"]),
    "label: unreadable shard": (["label", "--shard", "half"], ["cannot read shard 'half'"]),
    "bench: not an artifact": (["bench", "{tmp}/occupied"], ["not a kdedge artifact"]),
    "bench: bad batch sizes": (["bench", "{artifact}", "--batch-sizes", "0,8"], ["cannot read --batch-sizes '0,8'"]),
    "bench: bad lengths": (["bench", "{artifact}", "--seq-lens", "long"], ["cannot read --seq-lens 'long'"]),
}


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


RUNTIME_CASES = {
    "predict: not an artifact": (lambda folder: (folder / "kdedge.json").unlink(), "is not a kdedge artifact"),
    "predict: manifest not JSON": (lambda folder: (folder / "kdedge.json").write_text("{"), "is not valid JSON"),
    "predict: newer schema": (lambda folder: (folder / "kdedge.json").write_text('{"schema": 99}'),
                              "schema version 99"),
    "predict: model missing": (lambda folder: (folder / "model.onnx").unlink(), "model.onnx is missing"),
    "predict: tokenizer damaged": (lambda folder: (folder / "tokenizer.json").write_text("{}"),
                                   "tokenizer.json in"),
    "serve: not an artifact": (lambda folder: (folder / "kdedge.json").unlink(), "is not a kdedge artifact"),
}


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
