"""Build the recipe's model variants, gate and measure each, and pick the one the artifact ships.

Every variant (fp32, dynamic INT8, static INT8, FP16) is measured the same way on the same machine:
test accuracy, agreement of its predicted labels with the fp32 export, the largest logit difference,
size on disk and the median CPU latency of one batch. A variant whose agreement falls below
`export.min_agreement` fails its gate and is not shipped. Among fp32 and the variants that passed,
the artifact ships the fastest whose test accuracy is at most `export.max_accuracy_drop` below
fp32's; the table goes into `kdedge.json`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kdedge.export.artifact import MODEL_FILE, VARIANTS_DIR
from kdedge.export.config import ExportConfig
from kdedge.export.latency import median_ms
from kdedge.export.quantize import VARIANT_BUILDERS, Calibration
from kdedge.progress import Reporter
from kdedge_runtime import Predictor
from kdedge_runtime.encoding import TextEncoder

LATENCY_BATCH = 32


@dataclass
class VariantRow:
    variant: str
    file_bytes: int = 0
    metric: str = "accuracy"  # the task's main test metric: accuracy, or entity_f1 for NER
    score: float | None = None  # that metric on the test split
    metrics: dict | None = None  # every test metric
    agreement_with_fp32: float | None = None
    max_abs_logit_difference: float | None = None
    latency_ms: float | None = None  # median, one batch of LATENCY_BATCH test texts, onnxruntime CPU
    passed: bool = False  # built and within the agreement gate
    eligible: bool = False  # passed and within the accuracy tolerance
    chosen: bool = False
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def calibration_batches(encoder: TextEncoder, texts: list[str], size: int, seed: int = 0,
                        batch_size: int = 32) -> Calibration:
    """`size` texts drawn at random (seeded) from `texts`, as padded model inputs for static INT8."""
    if not texts:
        return []
    rng = np.random.default_rng(seed)
    chosen = [texts[i] for i in rng.choice(len(texts), size=min(size, len(texts)), replace=False)]
    batches = []
    for start in range(0, len(chosen), batch_size):
        input_ids, attention_mask = encoder.pad(encoder.encode(chosen[start : start + batch_size]))
        batches.append({"input_ids": input_ids, "attention_mask": attention_mask})
    return batches


def build_variants(
    staging: Path,
    encoder: TextEncoder,
    fp32_logits: np.ndarray,
    texts: list[str],
    evaluate: Callable[[np.ndarray], dict],
    rows_of: Callable[[np.ndarray], np.ndarray],
    metric: str,
    calibration: Calibration,
    config: ExportConfig,
    reporter: Reporter,
    per_channel: bool = False,
) -> list[VariantRow]:
    """Measure fp32 (`staging/model.onnx`) and each variant of `config.variants`; leave the chosen one
    as `staging/model.onnx` and no other model file. Returns the table, chosen row marked.

    `evaluate(logits)` gives a model's test metrics (`metric` among them) from `Predictor.logits` of
    `texts`; `rows_of(logits)` its predictions as 2-D rows (texts, or words for NER) for the gate;
    `per_channel`: int8-dynamic with one weight scale per output channel."""
    threads = os.cpu_count()
    sample = encoder.pad(encoder.encode(texts[:LATENCY_BATCH] or ["sample"]))
    fp32_metrics = evaluate(fp32_logits)
    fp32_rows = rows_of(fp32_logits)
    fp32 = VariantRow("fp32", (staging / MODEL_FILE).stat().st_size, metric, fp32_metrics[metric], fp32_metrics,
                      1.0, 0.0, passed=True, eligible=True)
    fp32.latency_ms = _latency(Predictor(staging, threads=threads), sample)
    rows, files = [fp32], {"fp32": MODEL_FILE}
    for name in config.variants:
        if name == "fp32":
            continue
        file = f"model.{name}.onnx"
        row = VariantRow(name)
        rows.append(row)
        try:
            options = {"per_channel": per_channel} if name == "int8-dynamic" else {}
            VARIANT_BUILDERS[name](staging / MODEL_FILE, staging / file, calibration, **options)
        except Exception as error:  # an onnxruntime tool that cannot handle this graph: report, ship the rest
            row.note = f"could not be built: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
            reporter.note(f"[yellow]{name}:[/] {row.note}")
            (staging / file).unlink(missing_ok=True)
            continue
        predictor = Predictor(staging, threads=threads, model_file=file)
        logits = predictor.logits(texts)
        row.metrics = evaluate(logits)
        variant_rows = rows_of(logits)
        differs = fp32_rows.argmax(axis=1) != variant_rows.argmax(axis=1)
        row.file_bytes = (staging / file).stat().st_size
        row.metric, row.score = metric, row.metrics[metric]
        row.agreement_with_fp32 = float(1 - differs.mean()) if len(differs) else 1.0
        row.max_abs_logit_difference = float(np.abs(fp32_rows - variant_rows).max()) if variant_rows.size else 0.0
        row.latency_ms = _latency(predictor, sample)
        row.passed = row.agreement_with_fp32 >= config.min_agreement
        if not row.passed:
            unit = "words" if metric == "entity_f1" else "rows"
            row.note = (f"failed the gate: predicted labels differ from fp32 on {int(differs.sum())} of {len(differs)} "
                        f"test {unit} ({row.agreement_with_fp32:.2%} agree, {config.min_agreement:.2%} required); "
                        f"logits differ by up to {row.max_abs_logit_difference:.3g}; not shipped")
            reporter.note(f"[yellow]{name}:[/] {row.note}")
            (staging / file).unlink()
            continue
        row.eligible = fp32.score - row.score <= config.max_accuracy_drop + 1e-12
        if not row.eligible:
            row.note = (f"{metric} {row.score:.4f} is {fp32.score - row.score:.4f} below fp32, more than "
                        f"export.max_accuracy_drop = {config.max_accuracy_drop:g}")
        files[name] = file
    best = min((row for row in rows if row.eligible), key=lambda row: row.latency_ms)
    best.chosen = True
    if config.keep_variants:
        (staging / VARIANTS_DIR).mkdir(exist_ok=True)
    for name, file in files.items():
        if name == best.variant:
            continue
        kept = staging / VARIANTS_DIR / f"model.{name}.onnx"
        if file == MODEL_FILE:  # fp32, about to be replaced by the chosen variant
            if config.keep_variants:
                shutil.copyfile(staging / file, kept)
        elif config.keep_variants:
            os.replace(staging / file, kept)
        else:
            (staging / file).unlink()
    if best.variant != "fp32":
        os.replace(staging / files[best.variant], staging / MODEL_FILE)
    return rows


def _latency(predictor: Predictor, inputs: tuple[np.ndarray, np.ndarray]) -> float:
    input_ids, attention_mask = inputs
    return median_ms(lambda: predictor.run(input_ids, attention_mask), repeats=20, warmup=3)


def variant_summary(rows: list[VariantRow]) -> str:
    """One line for the run log: each variant's accuracy and latency, the chosen one marked."""
    parts = []
    for row in rows:
        if row.score is None:
            parts.append(f"{row.variant} not built")
            continue
        mark = " [bold]← shipped[/]" if row.chosen else ("" if row.passed else " (failed gate)")
        parts.append(f"{row.variant} {row.metric} {row.score:.4f} {row.latency_ms:.2f} ms "
                     f"{row.file_bytes / 1e6:.2f} MB{mark}")
    return " · ".join(parts)
