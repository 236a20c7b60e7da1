"""`kdedge bench`: artifacts against their teacher, side by side, under the same settings.

The timing itself is the runtime's (`kdedge_runtime.bench.timing`, what `kdedge-runtime bench` runs on a
target without torch): one implementation and one JSON schema. This module adds what needs the
toolchain: the teacher in PyTorch fp32, exported to ONNX fp32 (fused) and dynamic INT8 (what a user
would deploy without kdedge), and torch's matmul peak in the fingerprint.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from kdedge.bench.machine import fingerprint, matmul_peak_gflops
from kdedge.errors import ConfigError
from kdedge_runtime.bench.timing import (  # noqa: F401  (the timing core lives in the runtime; re-exported)
    TEACHER_ONNX_INT8,
    TEACHER_TORCH,
    BenchConfig,
    BenchError,
    BenchResult,
    Candidate,
    Row,
    add_speedups,
    artifact_names,
    onnx_loader,
    providers_for,
    run_artifacts,
)
from kdedge_runtime.bench.timing import time_cell as _time  # noqa: F401
from kdedge_runtime.errors import KdedgeRuntimeError

TEACHER_ONNX_FP32 = "teacher-onnx-fp32"
TEACHER_ONNX_FP16 = "teacher-onnx-fp16"  # with --provider cuda only
RANDOM_BERT_BASE = "bert-base-random"  # bert-base shape, random weights: latency does not depend on values


def bench(
    artifacts, *, against: str | None = None, batch_sizes=(1, 8, 32, 128), seq_lens=(32, 128), threads=None,
    provider: str = "cpu", max_seconds: float = 10.0, min_seconds: float = 1.0, quiet: bool = True,
) -> BenchResult:
    """`kdedge bench` as a function (`kdedge.bench(...)`): artifact folders, the teacher to compare with,
    and the grid; KdedgeError for a folder that is not an artifact or a grid that is not positive integers."""
    import os

    from kdedge.errors import KdedgeError
    from kdedge.progress import Reporter

    folders = [Path(folder) for folder in artifacts]
    require_artifacts(folders)
    for name, numbers in (("batch_sizes", batch_sizes), ("seq_lens", seq_lens), ("threads", threads or (1,))):
        if not numbers or any(not isinstance(n, int) or n < 1 for n in numbers):
            raise KdedgeError(f"{name} must be positive integers, not {list(numbers)!r}", hint=f"e.g. {name}=(1, 32)")
    config = BenchConfig(batch_sizes=tuple(batch_sizes), seq_lens=tuple(seq_lens),
                         threads=tuple(threads) if threads else (os.cpu_count() or 1,), provider=provider,
                         max_seconds=max_seconds, min_seconds=min(min_seconds, max_seconds))
    return run_benchmark(folders, against, config, reporter=Reporter(quiet=quiet))


def require_artifacts(folders: list[Path]) -> None:
    """Every folder holds a kdedge artifact, or a KdedgeError names the first that does not."""
    from kdedge.errors import KdedgeError

    for folder in folders:
        if not (Path(folder) / "kdedge.json").is_file():
            raise KdedgeError(f"{folder} is not a kdedge artifact (no kdedge.json)",
                              hint="pass folders written by kdedge compress")


def run_benchmark(
    artifacts: list[Path], against: str | None, config: BenchConfig, work_dir: Path | None = None, reporter=None
) -> BenchResult:
    """The runtime's timing core (`kdedge_runtime.bench.timing`) on the artifacts, with the teacher in
    PyTorch and ONNX beside them when `against` names one; the fingerprint adds torch and its matmul peak."""
    from kdedge.progress import Reporter

    require_artifacts(artifacts)
    reporter = reporter or Reporter(quiet=True)
    machine = fingerprint()
    machine["matmul_peak_gflops"] = {str(t): round(matmul_peak_gflops(t), 1) for t in config.threads}
    try:
        providers = providers_for(config.provider)
        with tempfile.TemporaryDirectory() as scratch:
            extra, notes = [], []
            if against:
                num_labels = len(json.loads((Path(artifacts[0]) / "kdedge.json").read_text())["labels"])
                folder = Path(work_dir) if work_dir else Path(scratch)
                extra, notes = _teacher_candidates(against, num_labels, folder, providers, config, reporter)
            cells = len(config.threads) * len(config.seq_lens) * len(config.batch_sizes)
            with reporter.progress("benchmarking", cells * (len(extra) + _model_count(artifacts))) as task:
                return run_artifacts(artifacts, config, machine, extra, notes,
                                     progress=lambda line: task.advance(info=line.split("] ", 1)[-1]),
                                     loader=_onnx_loader)
    except KdedgeRuntimeError as error:
        raise ConfigError(str(error)) from None


def _onnx_loader(path: Path, providers: list[str], data: bytes | None = None):
    """The runtime's ONNX loader (a seam for tests that record what is loaded)."""
    return onnx_loader(path, providers, data)


def _model_count(folders: list[Path]) -> int:
    """ONNX files the artifacts ship: each one's model and the variants it keeps."""
    return sum(1 + len(list((Path(folder) / "variants").glob("model.*.onnx"))) for folder in folders)


def _teacher_candidates(name: str, num_labels: int, folder: Path, providers: list[str], config: BenchConfig,
                        reporter) -> tuple[list[Candidate], list[str]]:
    """The teacher in PyTorch fp32, and exported to ONNX fp32 (fused) and dynamic INT8."""
    import torch
    from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

    from kdedge.export.onnx import LogitsOnly, export_onnx, fuse_transformer
    from kdedge.export.quantize import convert_fp16, quantize_dynamic_int8
    from kdedge.teacher.loading import count_params, quiet_transformers, resolve_teacher

    notes = []
    with quiet_transformers():
        if name == RANDOM_BERT_BASE:
            torch.manual_seed(0)
            model = BertForSequenceClassification(BertConfig(num_labels=num_labels, attn_implementation="eager"))
            notes.append("teacher: bert-base shape (12 layers, hidden 768, 110M parameters) with random weights; "
                         "latency does not depend on weight values")
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                resolve_teacher(name), num_labels=num_labels, ignore_mismatched_sizes=True, attn_implementation="eager")
    model.eval()
    bert = model.config
    params = count_params(model)
    device = "cuda" if config.provider == "cuda" else "cpu"

    def torch_loader(threads: int):
        torch.set_num_threads(threads)
        model.to(device)

        def run(input_ids: np.ndarray, attention_mask: np.ndarray):
            with torch.inference_mode():
                output = model(input_ids=torch.from_numpy(input_ids).to(device),
                               attention_mask=torch.from_numpy(attention_mask).to(device)).logits
                if device == "cuda":
                    torch.cuda.synchronize()
                return output

        return run

    def flops_per_token(seq_len: int) -> float:
        h, i, layers = bert.hidden_size, bert.intermediate_size, bert.num_hidden_layers
        # multiply-adds ×2: Q, K, V, output projections; FFN; attention scores and context
        return layers * (2 * 4 * h * h + 2 * 2 * h * i + 2 * 2 * seq_len * h)

    reporter.step(f"exporting the teacher ({params:,} parameters) to ONNX fp32 and INT8 for the comparison")
    folder.mkdir(parents=True, exist_ok=True)

    fp32, int8 = folder / "teacher.fp32.onnx", folder / "teacher.int8.onnx"
    sample = (torch.ones(2, 8, dtype=torch.long), torch.ones(2, 8, dtype=torch.long))
    export_onnx(LogitsOnly(model).eval(), fp32, 17, sample)
    fuse_transformer(fp32, bert.num_attention_heads, bert.hidden_size)
    quantize_dynamic_int8(fp32, int8)
    vocab = bert.vocab_size
    candidates = [
        Candidate(TEACHER_TORCH, "torch-fp32", torch_loader, vocab, params, flops_per_token),
        Candidate(TEACHER_ONNX_FP32, "onnx-fp32", onnx_loader(fp32, providers), vocab, params),
        Candidate(TEACHER_ONNX_INT8, "int8-dynamic", onnx_loader(int8, providers), vocab, params),
    ]
    if config.provider == "cuda":  # what a GPU deployment would use: half precision
        fp16 = convert_fp16(fp32, folder / "teacher.fp16.onnx")
        candidates.append(Candidate(TEACHER_ONNX_FP16, "fp16", onnx_loader(fp16, providers), vocab, params))
    return candidates, notes
