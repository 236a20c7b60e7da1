"""`kdedge-runtime predict --input/--output`: a file of texts in, JSON lines out, in order, resumable."""

import io
import json

import pytest

from kdedge_runtime import Predictor
from kdedge_runtime.cli import main as runtime_main
from kdedge_runtime.predict_file import FileJob, InputError, InputTexts, predict_file

TEXTS = [f"the show was {'very ' * (i % 4)}{'great' if i % 3 else 'dull'}, {i} stars" for i in range(150)]


def write(path, kind, texts=TEXTS, column="text"):
    if kind == ".txt":
        path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    elif kind == ".jsonl":
        path.write_text("".join(json.dumps({column: t, "id": i}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    else:
        path.write_text(f"id,{column}\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(texts)), encoding="utf-8")
    return path


def records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def predictor(artifact):
    return Predictor(artifact, threads=1)


@pytest.mark.parametrize("kind", [".txt", ".jsonl", ".csv"])
def test_every_text_gets_one_line_in_input_order(predictor, tmp_path, kind):
    source = write(tmp_path / f"in{kind}", kind)
    progress = io.StringIO()
    summary = predict_file(predictor, FileJob(source, tmp_path / "out.jsonl", chunk_texts=40), progress=progress)
    found = records(tmp_path / "out.jsonl")
    expected = predictor.predict(TEXTS)
    assert [row["text"] for row in found] == TEXTS
    assert [row["label"] for row in found] == [p.label for p in expected]
    assert [row["score"] for row in found] == pytest.approx([p.score for p in expected], abs=1e-6)
    assert summary.texts == 150 and summary.skipped == 0 and summary.texts_per_second > 0
    assert "150 texts" in progress.getvalue() and "100%" in progress.getvalue()


def test_memory_is_bounded_by_the_chunk(predictor, tmp_path, monkeypatch):
    source = write(tmp_path / "in.txt", ".txt")
    sizes = []
    original = Predictor.predict
    monkeypatch.setattr(Predictor, "predict", lambda self, texts, batch_size=32: sizes.append(len(texts))
                        or original(self, texts, batch_size))
    predict_file(predictor, FileJob(source, tmp_path / "out.jsonl", chunk_texts=64), progress=None)
    assert sizes == [64, 64, 22]


def test_an_interrupted_run_resumes_after_its_last_complete_line(predictor, tmp_path):
    source = write(tmp_path / "in.jsonl", ".jsonl")
    whole = tmp_path / "whole.jsonl"
    predict_file(predictor, FileJob(source, whole), progress=None)
    lines = whole.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:70]) + lines[70][:15], encoding="utf-8")  # killed mid-line
    with pytest.raises(InputError, match="already exists: --resume continues it"):
        predict_file(predictor, FileJob(source, cut), progress=None)
    summary = predict_file(predictor, FileJob(source, cut, resume=True), progress=None)
    assert (summary.skipped, summary.texts) == (70, 80)
    assert cut.read_text(encoding="utf-8") == whole.read_text(encoding="utf-8")
    other = write(tmp_path / "other.txt", ".txt", texts=[t + "!" for t in TEXTS])
    with pytest.raises(InputError, match="does not continue"):
        predict_file(predictor, FileJob(other, cut, resume=True), progress=None)
    predict_file(predictor, FileJob(other, cut, overwrite=True), progress=None)
    assert records(cut)[0]["text"] == TEXTS[0] + "!"


@pytest.mark.parametrize("content, name, column, words", [
    ("id,body\n1,hello\n", "in.csv", "text", "has no column 'text' (its columns: id, body): pass --text-column"),
    ('{"text": "ok"}\n{oops\n', "in.jsonl", "text", "line 2 is not JSON"),
    ('{"body": "ok"}\n', "in.jsonl", "text", "line 1 has no string under 'text'"),
    ("[1, 2]\n", "in.jsonl", "text", "line 1 is neither an object nor a string"),
    ("hello\n", "in.parquet", "text", "not a supported input"),
])
def test_bad_input_files_are_named(predictor, tmp_path, content, name, column, words):
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        predict_file(predictor, FileJob(source, tmp_path / "out.jsonl", text_column=column), progress=None)


def test_undecodable_input_is_one_line(tmp_path):
    source = tmp_path / "in.txt"
    source.write_bytes(b"caf\xe9\n")
    with pytest.raises(InputError, match="is not utf-8 text .* pass its encoding with --encoding"):
        list(InputTexts(source))


def test_a_latin1_file_reads_with_its_encoding(artifact, tmp_path, capsys):
    """The latin-1 CSV that `kdedge compress --set data.encoding=latin-1` read is predicted the same way."""
    source = tmp_path / "in.csv"
    source.write_bytes("review\ncaf\xe9 au lait tr\xe8s bon\nna\xefve\n".encode("latin-1"))
    out = tmp_path / "out.jsonl"
    assert runtime_main(["predict", str(artifact), "--input", str(source), "--output", str(out),
                         "--text-column", "review", "--encoding", "latin-1", "--threads", "1"]) == 0
    assert [record["text"] for record in records(out)] == ["café au lait très bon", "naïve"]
    assert runtime_main(["predict", str(artifact), "--input", str(source), "--output", str(tmp_path / "b.jsonl"),
                         "--text-column", "review", "--encoding", "klingon"]) == 2
    assert "unknown text encoding 'klingon'" in capsys.readouterr().err


def test_the_cli_streams_a_file_and_refuses_mistakes_in_one_line(artifact, tmp_path, capsys):
    source = write(tmp_path / "in.csv", ".csv", column="review")
    out = tmp_path / "out" / "predictions.jsonl"
    args = [str(artifact), "--input", str(source), "--output", str(out), "--text-column", "review", "--threads", "1"]
    assert runtime_main(["predict", *args]) == 0
    assert len(records(out)) == 150 and "150 texts in" in capsys.readouterr().err
    assert runtime_main(["predict", *args]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "already exists" in error and "Traceback" not in error
    assert runtime_main(["predict", str(artifact), "--input", str(source), "--output", str(tmp_path / "x.jsonl")]) == 2
    assert "has no column 'text'" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()
    with pytest.raises(SystemExit):
        runtime_main(["predict", str(artifact), "--input", str(source)])  # no --output
    assert "either TEXTS or --input FILE with --output" in capsys.readouterr().err
