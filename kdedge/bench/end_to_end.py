"""End-to-end serving speed: `Predictor.predict` on real texts, as a service calls it.

The model-only benchmark (`runner`) feeds random ids of a fixed length; a service also tokenizes,
buckets texts by length, pads, runs the model and turns logits into labels or entities. Here each
artifact predicts consecutive batches of texts from a file, and the time spent inside the ONNX session
(`Predictor.model_seconds`) is set against the whole, so the table says what share of serving time is
outside the model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kdedge.errors import DataError


@dataclass
class EndToEndRow:
    model: str  # the artifact folder's name
    variant: str
    batch_size: int
    threads: int
    texts: int  # distinct texts cycled through
    calls: int  # timed predict() calls
    p50_ms: float  # one predict() call of batch_size texts, end to end
    p99_ms: float
    texts_per_second: float
    model_share: float  # of the timed calls' wall time, inside the ONNX session
    outside_share: float  # tokenization, bucketing, padding, post-processing


def read_bench_texts(path: Path, text_column: str = "text", limit: int = 10_000) -> list[str]:
    """Up to `limit` non-empty texts of a .txt/.jsonl/.csv file (the runtime's reader)."""
    from kdedge_runtime.predict_file import InputError, InputTexts

    texts = []
    try:
        for text in InputTexts(Path(path), text_column):
            if text.strip():
                texts.append(text)
            if len(texts) >= limit:
                break
    except InputError as error:
        raise DataError(str(error), hint="pass --texts a UTF-8 .txt, .jsonl or .csv file of texts") from None
    if not texts:
        raise DataError(f"{path} has no texts", hint="pass --texts a file with at least one non-empty text")
    return texts


def run_end_to_end(artifacts: list[Path], texts: list[str], batch_sizes: tuple[int, ...], threads: tuple[int, ...],
                   min_seconds: float = 1.0, max_seconds: float = 10.0, min_calls: int = 5,
                   warmup: int = 2, reporter=None) -> list[EndToEndRow]:
    """Time `Predictor.predict` on consecutive batches of `texts` for every artifact, batch size and
    thread count: at least `min_calls` calls and `min_seconds`, at most `max_seconds` per cell."""
    from kdedge.bench.runner import artifact_names, require_artifacts
    from kdedge.progress import Reporter
    from kdedge_runtime import Predictor

    require_artifacts(artifacts)
    reporter = reporter or Reporter(quiet=True)
    rows = []
    cells = [(folder, name, t, b) for folder, name in zip(artifacts, artifact_names(artifacts)) for t in threads
             for b in batch_sizes]
    with reporter.progress("end to end", len(cells)) as task:
        for folder, name, thread_count, batch_size in cells:
            predictor = Predictor(folder, threads=thread_count)
            batches = [texts[(start + i) % len(texts)] for start in range(0, max(len(texts), batch_size), batch_size)
                       for i in range(batch_size)]
            chunks = [batches[i : i + batch_size] for i in range(0, len(batches), batch_size)]
            for chunk in chunks[:warmup]:
                predictor.predict(chunk, batch_size=batch_size)
            walls, models, started, call = [], [], time.perf_counter(), 0
            while True:
                chunk = chunks[call % len(chunks)]
                before, begin = predictor.model_seconds, time.perf_counter()
                predictor.predict(chunk, batch_size=batch_size)
                walls.append(time.perf_counter() - begin)
                models.append(predictor.model_seconds - before)
                call += 1
                elapsed = time.perf_counter() - started
                if elapsed >= max_seconds or (call >= min_calls and elapsed >= min_seconds):
                    break
            wall, model = float(np.sum(walls)), float(np.sum(models))
            rows.append(EndToEndRow(
                model=name, variant=predictor.manifest.raw.get("variant", "fp32"),
                batch_size=batch_size, threads=thread_count, texts=len(texts), calls=len(walls),
                p50_ms=float(np.percentile(walls, 50)) * 1000, p99_ms=float(np.percentile(walls, 99)) * 1000,
                texts_per_second=batch_size * len(walls) / wall, model_share=model / wall,
                outside_share=1 - model / wall))
            task.advance(info=f"{name} b{batch_size}: {rows[-1].outside_share:.0%} outside the model")
    return rows


def end_to_end_markdown(rows: list[EndToEndRow]) -> str:
    lines = ["| model | variant | batch | threads | p50 ms per call | p99 ms | texts/s | in the ONNX model | outside |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.model} | {r.variant} | {r.batch_size} | {r.threads} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
              f"{r.texts_per_second:,.0f} | {r.model_share:.0%} | {r.outside_share:.0%} |" for r in rows]
    return "\n".join(lines) + "\n"
