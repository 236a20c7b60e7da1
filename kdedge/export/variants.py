"""Build the recipe's model variants, gate and measure each, and pick the one the artifact ships.

Every variant (fp32, dynamic INT8, static INT8, FP16) is measured the same way on the same machine, on
the dev split (the test split stays unseen by every choice; the caller reports the shipped model's test
metrics once): accuracy, agreement of its predicted labels with the fp32 export, the largest logit difference,
size on disk, the median CPU latency of one batch, and how much a text's result moves with the other
texts in its batch. A variant whose agreement falls below `export.min_agreement` fails its gate and is
not shipped. Among fp32 and the variants that passed, the artifact ships the fastest whose dev
accuracy is at most `export.max_accuracy_drop` below fp32's and, with `export.batch_invariant` (the
default), whose every dev text keeps its label and its probabilities within `export.batch_tolerance`
whether it runs alone, in its usual length bucket or in a shuffled batch of other texts. Dynamic INT8
quantizes activations with one scale per batch, so a text's score moves with its neighbours: with a
server that batches requests together, one user's result would depend on another's texts. The table
goes into `kdedge.json`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kdedge.errors import ExportValidationError
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
    metric: str = "accuracy"  # the task's main metric: accuracy, or entity_f1 for NER
    score: float | None = None  # that metric on the dev split
    metrics: dict | None = None  # every dev metric
    agreement_with_fp32: float | None = None
    max_abs_logit_difference: float | None = None
    latency_ms: float | None = None  # median, one batch of LATENCY_BATCH dev texts, onnxruntime CPU
    batch_score_difference: float | None = None  # largest probability change of a dev row across batchings
    batch_label_changes: int | None = None  # dev rows whose label changes across batchings
    passed: bool = False  # built and within the agreement gate
    eligible: bool = False  # passed and within the accuracy tolerance
    chosen: bool = False
    note: str = ""
    split: str = "dev"  # where every figure above was measured

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

    `evaluate(logits)` gives a model's dev metrics (`metric` among them) from `Predictor.logits` of
    `texts`; `rows_of(logits)` its predictions as 2-D rows (texts, or words for NER) for the gate;
    `per_channel`: int8-dynamic with one weight scale per output channel."""
    threads = os.cpu_count()
    sample = encoder.pad(encoder.encode(texts[:LATENCY_BATCH] or ["sample"]))
    fp32_metrics = evaluate(fp32_logits)
    fp32_rows = rows_of(fp32_logits)
    fp32 = VariantRow("fp32", (staging / MODEL_FILE).stat().st_size, metric, fp32_metrics[metric], fp32_metrics,
                      1.0, 0.0, passed=True, eligible=True)
    fp32_predictor = Predictor(staging, threads=threads, unsealed=True)
    fp32.latency_ms = _latency(fp32_predictor, sample)
    _gate_batch_dependence(fp32, fp32_predictor, texts, rows_of, fp32_rows, config)
    if config.batch_invariant and not fp32.eligible:
        raise ExportValidationError(
            f"the fp32 export's results depend on the other texts in a batch: {fp32.note}",
            "padding leaks into the student's outputs; report this with the recipe, or set "
            "export.batch_invariant: false to ship it anyway")
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
        predictor = Predictor(staging, threads=threads, model_file=file, unsealed=True)
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
                        f"dev {unit} ({row.agreement_with_fp32:.2%} agree, {config.min_agreement:.2%} required); "
                        f"logits differ by up to {row.max_abs_logit_difference:.3g}; not shipped")
            reporter.note(f"[yellow]{name}:[/] {row.note}")
            (staging / file).unlink()
            continue
        row.eligible = fp32.score - row.score <= config.max_accuracy_drop + 1e-12
        if not row.eligible:
            row.note = (f"{metric} {row.score:.4f} is {fp32.score - row.score:.4f} below fp32, more than "
                        f"export.max_accuracy_drop = {config.max_accuracy_drop:g}")
        else:
            _gate_batch_dependence(row, predictor, texts, rows_of, variant_rows, config)
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


def batch_dependence(predictor: Predictor, texts: list[str], rows_of: Callable[[np.ndarray], np.ndarray],
                     reference_rows: np.ndarray, seed: int = 0) -> tuple[int, float]:
    """How far `predictor`'s results on `texts` move with the rest of their batch: the number of rows
    whose label changes and the largest change of a probability, between `reference_rows` (the texts in
    the runtime's usual length-bucketed batches of 32) and the texts run one at a time and in shuffled
    batches of 7 (other neighbours, other padding)."""
    if not texts:
        return 0, 0.0
    reference = _probabilities(reference_rows)
    order = np.random.default_rng(seed).permutation(len(texts))
    changes, difference = np.zeros(len(reference), dtype=bool), 0.0
    for arranged, batch_size in ((texts, 1), ([texts[i] for i in order], 7)):
        logits = predictor.logits(arranged, batch_size=batch_size)
        if arranged is not texts:
            logits = _unshuffled(logits, order)
        probabilities = _probabilities(rows_of(logits))
        changes |= probabilities.argmax(axis=1) != reference.argmax(axis=1)
        difference = max(difference, float(np.abs(probabilities - reference).max(initial=0.0)))
    return int(changes.sum()), difference


def _gate_batch_dependence(row: VariantRow, predictor: Predictor, texts: list[str],
                           rows_of: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, config: ExportConfig) -> None:
    row.batch_label_changes, row.batch_score_difference = batch_dependence(predictor, texts, rows_of, rows)
    invariant = row.batch_label_changes == 0 and row.batch_score_difference <= config.batch_tolerance
    if config.batch_invariant and not invariant:
        row.eligible = False
        row.note = (f"a text's result depends on the rest of its batch: {row.batch_label_changes} dev rows change "
                    f"label and probabilities move by up to {row.batch_score_difference:.2g} (export.batch_tolerance "
                    f"= {config.batch_tolerance:g}); export.batch_invariant: false allows it")


def _unshuffled(logits, order: np.ndarray):
    """Logits computed on texts[order], put back in the order of texts (a dict of them for multi-task)."""
    if isinstance(logits, dict):
        return {name: _unshuffled(value, order) for name, value in logits.items()}
    restored = np.empty_like(logits)
    restored[order] = logits
    return restored


def _probabilities(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    if rows.size == 0:
        return rows
    shifted = np.exp(rows - rows.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


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
