"""Batch-latency benchmark: artifacts against their teacher, side by side, under the same settings.

For every (threads, sequence length, batch size) cell each model runs on the same random token ids:
a warm-up, then repeats until the running median is stable or the cell's time cap is reached. Rows
carry p50/p90/p99 latency, throughput, and speed-ups against the teacher in PyTorch fp32 and the
teacher in ONNX INT8 (what a user would deploy without kdedge), measured in the same run.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from kdedge.bench.machine import fingerprint, matmul_peak_gflops
from kdedge.errors import ConfigError

TEACHER_TORCH = "teacher-torch-fp32"
TEACHER_ONNX_FP32 = "teacher-onnx-fp32"
TEACHER_ONNX_INT8 = "teacher-onnx-int8"
TEACHER_ONNX_FP16 = "teacher-onnx-fp16"  # with --provider cuda only
RANDOM_BERT_BASE = "bert-base-random"  # bert-base shape, random weights: latency does not depend on values


@dataclass(frozen=True)
class BenchConfig:
    """What to measure. Each cell samples for at least `min_seconds` and `min_repeats`, then stops when
    the medians of the first and second half of its samples agree within `stability` (relative), or at
    `max_seconds`."""

    batch_sizes: tuple[int, ...] = (1, 8, 32, 128)
    seq_lens: tuple[int, ...] = (32, 128)
    threads: tuple[int, ...] = (2,)
    provider: str = "cpu"
    warmup: int = 2  # calls before sampling, and at least warmup_seconds of them
    warmup_seconds: float = 0.5
    min_repeats: int = 5
    max_repeats: int = 100_000  # a safety cap only: fast cells must still sample for min_seconds
    min_seconds: float = 1.0
    max_seconds: float = 10.0
    stability: float = 0.03
    seed: int = 0


@dataclass
class Row:
    model: str
    variant: str
    provider: str
    batch_size: int
    seq_len: int
    threads: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    throughput: float  # sequences per second at the p50 latency
    repeats: int
    load_seconds: float
    peak_rss_mb: float  # the benchmark process's peak resident memory so far (includes earlier models)
    params: int | None = None
    speedup_vs_teacher_torch_fp32: float | None = None
    speedup_vs_teacher_onnx_int8: float | None = None
    gflops: float | None = None  # achieved, for the PyTorch teacher
    gflops_vs_matmul_peak: float | None = None


@dataclass
class Candidate:
    """One model to time: `load(threads)` returns a function of (input_ids, attention_mask)."""

    model: str
    variant: str
    load: Callable[[int], Callable[[np.ndarray, np.ndarray], object]]
    vocab_size: int
    params: int | None = None
    flops_per_token: Callable[[int], float] | None = None  # FLOPs per token at a sequence length
    max_length: int | None = None  # longest input the model was built for (position table, max_length)


@dataclass
class BenchResult:
    machine: dict
    config: dict
    results: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, command: str | None = None) -> str:
        """Every measurement as a Markdown table (what `kdedge bench --markdown` writes)."""
        from kdedge.bench.report import bench_markdown

        return bench_markdown(self, command)

    def to_dict(self) -> dict:
        return {"schema": "kdedge.bench/1", "machine": self.machine, "config": self.config,
                "results": [asdict(row) for row in self.results], "notes": self.notes}


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


def artifact_names(folders: list[Path]) -> list[str]:
    """Each artifact folder's name in the tables: its own name, with as many parent folders as tell it apart
    from the others (`a/artifact`, `b/artifact`); the same folder given twice keeps one name."""
    paths = [Path(folder).resolve() for folder in folders]

    def tail(path: Path, depth: int) -> str:
        return "/".join(path.parts[-depth:])

    names = []
    for path in paths:
        depth = 1
        while depth < len(path.parts) and any(tail(other, depth) == tail(path, depth) and other != path
                                               for other in paths):
            depth += 1
        names.append(tail(path, depth))
    return names


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
    from kdedge.progress import Reporter

    require_artifacts(artifacts)
    reporter = reporter or Reporter(quiet=True)
    providers = _providers(config.provider)
    candidates = [candidate for folder, name in zip(artifacts, artifact_names(artifacts))
                  for candidate in _artifact_candidates(Path(folder), name, providers)]
    notes: list[str] = []
    if against:
        num_labels = len(json.loads((Path(artifacts[0]) / "kdedge.json").read_text())["labels"]) if artifacts else 2
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(work_dir) if work_dir else Path(scratch)
            teacher_candidates, teacher_notes = _teacher_candidates(against, num_labels, folder, providers, config,
                                                                    reporter)
            return _measure(candidates + teacher_candidates, config, notes + teacher_notes, reporter)
    return _measure(candidates, config, notes, reporter)


def _measure(candidates: list[Candidate], config: BenchConfig, notes: list[str], reporter) -> BenchResult:
    import resource

    machine = fingerprint()
    machine["matmul_peak_gflops"] = {str(t): round(matmul_peak_gflops(t), 1) for t in config.threads}
    result = BenchResult(machine=machine, config=asdict(config), notes=notes)
    rng = np.random.default_rng(config.seed)
    cells = [(t, s, b) for t in config.threads for s in config.seq_lens for b in config.batch_sizes]
    with reporter.progress("benchmarking", len(cells) * len(candidates)) as task:
        for threads in config.threads:
            runners = []  # by position: two candidates may share a name and variant (the same folder twice)
            for candidate in candidates:
                started = time.perf_counter()
                runners.append((candidate.load(threads), time.perf_counter() - started))
            for seq_len in config.seq_lens:
                for batch in config.batch_sizes:
                    for candidate, (run, load_seconds) in zip(candidates, runners):
                        if candidate.max_length is not None and seq_len > candidate.max_length:
                            note = f"{candidate.model}: skipped sequence length {seq_len} (built for {candidate.max_length})"
                            if note not in result.notes:
                                result.notes.append(note)
                            task.advance()
                            continue
                        ids = rng.integers(1, max(2, candidate.vocab_size), size=(batch, seq_len), dtype=np.int64)
                        mask = np.ones_like(ids)
                        times = _time(lambda: run(ids, mask), config)
                        p50 = float(np.percentile(times, 50))
                        row = Row(
                            model=candidate.model, variant=candidate.variant, provider=config.provider,
                            batch_size=batch, seq_len=seq_len, threads=threads, p50_ms=p50,
                            p90_ms=float(np.percentile(times, 90)), p99_ms=float(np.percentile(times, 99)),
                            throughput=batch / p50 * 1000, repeats=len(times), load_seconds=load_seconds,
                            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                            params=candidate.params,
                        )
                        if candidate.flops_per_token is not None:
                            row.gflops = candidate.flops_per_token(seq_len) * batch * seq_len / (p50 / 1000) / 1e9
                            row.gflops_vs_matmul_peak = row.gflops / machine["matmul_peak_gflops"][str(threads)]
                        result.results.append(row)
                        task.advance(info=f"{candidate.model} b{batch} s{seq_len} t{threads}: {p50:.1f} ms")
    add_speedups(result.results)
    return result


def add_speedups(rows: list[Row]) -> None:
    """Fill each row's speed-ups against the teachers' rows of the same batch, length and threads."""
    reference: dict[tuple, dict[str, float]] = {}
    for row in rows:
        if row.model in (TEACHER_TORCH, TEACHER_ONNX_INT8):
            reference.setdefault((row.batch_size, row.seq_len, row.threads, row.provider), {})[row.model] = row.p50_ms
    for row in rows:
        teachers = reference.get((row.batch_size, row.seq_len, row.threads, row.provider), {})
        if TEACHER_TORCH in teachers:
            row.speedup_vs_teacher_torch_fp32 = teachers[TEACHER_TORCH] / row.p50_ms
        if TEACHER_ONNX_INT8 in teachers:
            row.speedup_vs_teacher_onnx_int8 = teachers[TEACHER_ONNX_INT8] / row.p50_ms


def _time(run: Callable[[], object], config: BenchConfig) -> list[float]:
    started = time.perf_counter()
    calls = 0
    while calls < config.warmup or time.perf_counter() - started < config.warmup_seconds:
        run()
        calls += 1
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < config.max_repeats:
        begin = time.perf_counter()
        run()
        times.append((time.perf_counter() - begin) * 1000)
        elapsed = time.perf_counter() - started
        if len(times) >= config.min_repeats and elapsed >= config.min_seconds:
            if elapsed > config.max_seconds:
                break
            half = len(times) // 2
            first, second = statistics.median(times[:half]), statistics.median(times[half:])
            if abs(first - second) <= config.stability * second:
                break
    return times


def _providers(provider: str) -> list[str]:
    import onnxruntime as ort

    if provider == "cpu":
        return ["CPUExecutionProvider"]
    if provider == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ConfigError(
                "--provider cuda needs onnxruntime's CUDA execution provider, which this installation lacks",
                hint="install onnxruntime-gpu on a machine with an NVIDIA GPU, or use --provider cpu",
            )
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        _check_session_provider(_probe_session(providers), providers[0], "a one-node probe graph")
        return providers
    raise ConfigError(f"unknown provider {provider!r}", hint="use cpu or cuda")


def _probe_session(providers: list[str]):
    """An onnxruntime session of a one-node graph on `providers`: whether they start, before any model loads."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a missing provider is only a warning to onnxruntime; checked by the caller
        return ort.InferenceSession(onnx.shape_inference.infer_shapes(model).SerializeToString(), providers=providers)


def _check_session_provider(session, wanted: str, what: str) -> None:
    """onnxruntime falls back to the CPU with a warning when a provider cannot start: rows labelled with the
    provider would then be CPU timings, so that is an error."""
    used = session.get_providers()[0]
    if used != wanted:
        raise ConfigError(
            f"onnxruntime ran {what} on {used}, not {wanted}: it could not start the GPU provider",
            hint="check that onnxruntime-gpu finds its CUDA and cuDNN libraries (LD_LIBRARY_PATH) and a GPU, "
                 "or use --provider cpu",
        )


def _onnx_loader(path: Path, providers: list[str]):
    def load(threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a missing provider is only a warning to onnxruntime; checked below
            session = ort.InferenceSession(str(path), options, providers=providers)
        _check_session_provider(session, providers[0], path.name)
        names = [item.name for item in session.get_inputs()]

        def run(input_ids: np.ndarray, attention_mask: np.ndarray):
            feed = {"input_ids": input_ids, "attention_mask": attention_mask,
                    "token_type_ids": np.zeros_like(input_ids)}
            return session.run(None, {name: feed[name] for name in names})

        return run

    return load


def _artifact_candidates(folder: Path, name: str, providers: list[str]) -> list[Candidate]:
    """The model an artifact ships, then every variant it keeps under variants/ (export.keep_variants)."""
    from tokenizers import Tokenizer

    from kdedge.export.artifact import VARIANTS_DIR
    from kdedge_runtime.manifest import ArtifactError, read_manifest

    try:
        manifest = read_manifest(folder)
    except ArtifactError as exc:
        raise ConfigError(str(exc), hint="pass artifact folders written by kdedge compress") from None
    vocab = Tokenizer.from_file(str(folder / manifest.tokenizer_file)).get_vocab_size()
    student = manifest.raw.get("student", {})
    models = [(manifest.raw.get("variant", "onnx"), folder / manifest.model_file)]
    models += [(path.name.removeprefix("model.").removesuffix(".onnx"), path)
               for path in sorted((folder / VARIANTS_DIR).glob("model.*.onnx"))]
    return [
        Candidate(
            model=f"{name} ({student.get('kind', 'student')})",
            variant=variant,
            load=_onnx_loader(path, providers),
            vocab_size=vocab,
            params=student.get("params"),
            max_length=(student.get("config", {}).get("max_position") or manifest.max_length)
            if student.get("kind") == "transformer" else None,  # its position table: longer inputs cannot run
        )
        for variant, path in models
    ]


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
        Candidate(TEACHER_ONNX_FP32, "onnx-fp32", _onnx_loader(fp32, providers), vocab, params),
        Candidate(TEACHER_ONNX_INT8, "int8-dynamic", _onnx_loader(int8, providers), vocab, params),
    ]
    if config.provider == "cuda":  # what a GPU deployment would use: half precision
        fp16 = convert_fp16(fp32, folder / "teacher.fp16.onnx")
        candidates.append(Candidate(TEACHER_ONNX_FP16, "fp16", _onnx_loader(fp16, providers), vocab, params))
    return candidates, notes
