"""Batch inference over a file of texts: stream it in chunks, write one JSON line per text, in order.

    kdedge-runtime predict ARTIFACT --input texts.csv --output predictions.jsonl [--text-column text]

Inputs: `.txt` (one text per line), `.jsonl` (one JSON object per line, the text under `--text-column`,
or a bare JSON string) and `.csv` (a header row, the text under `--text-column`); `text` by default.
Memory stays bounded by the chunk size whatever the file's size. Line N of the output answers text N
of the input. An output that already exists is never overwritten by accident: `--resume` continues it
after its last complete line (a run that was interrupted), `--overwrite` starts it again.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TextIO

from kdedge_runtime.errors import InputError
from kdedge_runtime.predictor import Predictor
from kdedge_runtime.results import MULTI_TASK, TOKEN, Prediction, as_json

FORMATS = (".txt", ".jsonl", ".csv")


@dataclass(frozen=True)
class FileJob:
    input: Path
    output: Path
    text_column: str = "text"
    batch_size: int = 32
    chunk_texts: int = 1024  # texts read, predicted and written at a time: the memory bound
    resume: bool = False
    overwrite: bool = False
    encoding: str = "utf-8"  # the input's text encoding (e.g. latin-1, as the data kdedge compress read); output is UTF-8


@dataclass(frozen=True)
class FileSummary:
    texts: int  # predicted by this run
    skipped: int  # already in the output from an earlier run (--resume)
    seconds: float

    @property
    def texts_per_second(self) -> float:
        return self.texts / self.seconds if self.seconds > 0 else 0.0


def result_record(text: str, prediction: Prediction) -> dict:
    """One output line: the text and its label and score, its entities, or (multi-task) each task's result;
    `"truncated": true` when the text was longer than the model reads."""
    flag = {"truncated": True} if prediction.truncated else {}
    if prediction.task == MULTI_TASK:
        return {"text": text, **as_json(prediction), **flag}
    if prediction.task == TOKEN:
        return {"text": text, "entities": as_json(prediction), **flag}
    return {"text": text, "label": prediction.label, "score": round(prediction.score, 6), **flag}


class InputTexts:
    """The texts of `path`, one at a time, in file order, and how far through the file the reading is.
    InputError names the line that cannot be read."""

    def __init__(self, path: Path, text_column: str = "text", encoding: str = "utf-8"):
        if path.suffix not in FORMATS:
            raise InputError(f"{path} is not a supported input: use a .txt (one text per line), .jsonl or .csv file")
        if not path.is_file():
            raise InputError(f"input file {path} does not exist")
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InputError(f"unknown text encoding {encoding!r}: pass a Python codec name such as utf-8 or "
                             "latin-1") from None
        self.path, self.text_column, self.encoding = path, text_column, encoding
        self._size = max(path.stat().st_size, 1)
        self._handle: io.TextIOWrapper | None = None

    def __iter__(self) -> Iterator[str]:
        with open(self.path, encoding=self.encoding, newline="" if self.path.suffix == ".csv" else None) as handle:
            self._handle = handle
            try:
                yield from _texts(handle, self.path, self.text_column)
            except UnicodeDecodeError as error:
                raise InputError(f"{self.path} is not {self.encoding} text ({error.reason} at byte {error.start}): "
                                 "pass its encoding with --encoding (e.g. latin-1), or re-encode it as UTF-8") from None

    @property
    def fraction(self) -> float:
        """Share of the file's bytes read so far (read ahead by a buffer's worth)."""
        try:
            return min(self._handle.buffer.tell() / self._size, 1.0) if self._handle is not None else 0.0
        except (OSError, ValueError):  # closed: all of it
            return 1.0


def _texts(handle: TextIO, path: Path, text_column: str) -> Iterator[str]:
    if path.suffix == ".txt":
        for line in handle:
            yield line.rstrip("\r\n")
        return
    if path.suffix == ".csv":
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            return
        if text_column not in reader.fieldnames:
            raise InputError(f"{path} has no column {text_column!r} (its columns: {', '.join(reader.fieldnames)}): "
                             "pass --text-column")
        for row in reader:
            yield row[text_column] or ""
        return
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{path} line {number} is not JSON ({error.msg}): one JSON object per line") from None
        if isinstance(value, dict):
            if not isinstance(value.get(text_column), str):
                raise InputError(f"{path} line {number} has no string under {text_column!r}: pass --text-column")
            value = value[text_column]
        elif not isinstance(value, str):
            raise InputError(f"{path} line {number} is neither an object nor a string")
        yield value


def completed_lines(output: Path) -> tuple[int, str | None]:
    """The complete lines (ending in a newline) of an earlier, interrupted output and the text its last
    one answered; a cut-off last line is removed."""
    with open(output, "rb+") as handle:
        data = handle.read()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            handle.truncate(complete)
    lines = data[:complete].splitlines()
    try:
        last = json.loads(lines[-1])["text"] if lines else None
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{output} is not an output of kdedge-runtime predict: --overwrite replaces it") from None
    return len(lines), last


def predict_file(predictor: Predictor, job: FileJob, progress: TextIO | None = sys.stderr) -> FileSummary:
    """Predict every text of `job.input` into `job.output` (JSON lines, input order), chunk by chunk."""
    if job.input.resolve() == job.output.resolve():
        raise InputError("--output must not be the --input file")
    if job.output.suffix != ".jsonl":
        raise InputError(f"--output {job.output} should end in .jsonl (one JSON object per line)")
    skipped, last = 0, None
    source = InputTexts(job.input, job.text_column, job.encoding)
    if job.output.exists():
        if job.resume:
            skipped, last = completed_lines(job.output)
        elif not job.overwrite:
            raise InputError(f"{job.output} already exists: --resume continues it after its last complete line, "
                             "--overwrite replaces it")
    texts = iter(source)
    read, previous = 0, None
    for previous in islice(texts, skipped):  # one at a time: the memory bound holds when resuming too
        read += 1
    if skipped and (read < skipped or previous != last):
        raise InputError(f"{job.output} does not continue {job.input} (its line {skipped} answers another text): "
                         "--overwrite starts it again")
    started, done = time.perf_counter(), 0
    chunk = list(islice(texts, job.chunk_texts))  # read before the output opens: a bad input leaves no file
    job.output.parent.mkdir(parents=True, exist_ok=True)
    with open(job.output, "a" if skipped else "w", encoding="utf-8") as out:
        while chunk:
            lines = [json.dumps(result_record(text, found), ensure_ascii=False)
                     for text, found in zip(chunk, predictor.predict(chunk, job.batch_size), strict=True)]
            out.write("\n".join(lines) + "\n")
            out.flush()
            done += len(chunk)
            if progress is not None:
                _show(progress, done + skipped, done / max(time.perf_counter() - started, 1e-9), source.fraction)
            chunk = list(islice(texts, job.chunk_texts))
    if progress is not None and done:
        progress.write("\n")
    return FileSummary(done, skipped, time.perf_counter() - started)


def _show(stream: TextIO, texts: int, rate: float, fraction: float, width: int = 30) -> None:
    """One progress line, redrawn in place: a bar by bytes read, texts written, texts per second."""
    stream.write(f"\r[{'#' * int(width * fraction):<{width}}] {fraction:4.0%} {texts:,} texts, {rate:,.0f} texts/s")
    stream.flush()
