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
    "unknown recipe key": (["--set", "distill.epoch=3"], None, ["unknown recipe key 'distill.epoch'"]),
    "wrong text column": (["--text-column", "body"], None, ["body"]),
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
