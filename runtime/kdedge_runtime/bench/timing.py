"""Batch latency of artifacts, side by side under the same settings: the timing core of both
`kdedge-runtime bench` and `kdedge bench` (which adds the teacher in PyTorch).

For every (threads, sequence length, batch size) cell each model runs on the same random token ids: a
warm-up, then repeats until the running median is stable or the cell's time cap is reached. Rows carry
p50/p90/p99 latency, throughput, and speed-ups against the teachers measured in the same run: the
teacher in PyTorch fp32 and in ONNX INT8 (`kdedge bench --against`), and a teacher artifact written by
`kdedge export-teacher` (what `kdedge-runtime bench` can time on a target without torch).
"""

from __future__ import annotations

import resource
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from kdedge_runtime.errors import ArtifactError, KdedgeRuntimeError

SCHEMA = "kdedge.bench/1"
TEACHER_TORCH = "teacher-torch-fp32"
TEACHER_ONNX_INT8 = "teacher-onnx-int8"
VARIANTS_DIR = "variants"  # an artifact's other variants (export.keep_variants)


class BenchError(KdedgeRuntimeError):
    """A benchmark that cannot run as asked; the message says what to change."""


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
    speedup_vs_teacher_artifact: float | None = None  # against a timed `kdedge export-teacher` artifact
    model_sha256: str | None = None  # the ONNX file timed, as its artifact records it


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
    teacher: bool = False  # a teacher artifact: the reference of speedup_vs_teacher_artifact
    sha256: str | None = None


@dataclass
class BenchResult:
    machine: dict
    config: dict
    results: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scenarios: list[dict] = field(default_factory=list)  # MLPerf scenarios (kdedge-runtime bench --scenarios)

    def table(self, command: str | None = None) -> str:
        """Every measurement as a Markdown table (what `--markdown` writes)."""
        from kdedge_runtime.bench.report import markdown

        return markdown(self, command)

    def to_dict(self) -> dict:
        document = {"schema": SCHEMA, "machine": self.machine, "config": self.config,
                    "results": [asdict(row) for row in self.results], "notes": self.notes}
        if self.scenarios:
            document["scenarios"] = self.scenarios
        return document


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
    """Every folder holds a kdedge artifact, or an ArtifactError names the first that does not."""
    for folder in folders:
        if not (Path(folder) / "kdedge.json").is_file():
            raise ArtifactError(f"{folder} is not a kdedge artifact (no kdedge.json): pass folders written by "
                                "kdedge compress or kdedge export-teacher")


def measure(candidates: list[Candidate], config: BenchConfig, machine: dict, notes: list[str] | None = None,
            progress: Callable[[str], None] | None = None) -> BenchResult:
    """Time every candidate in every cell of `config`, on the same random ids, and fill the speed-ups."""
    result = BenchResult(machine=machine, config=asdict(config), notes=list(notes or []))
    rng = np.random.default_rng(config.seed)
    cells = [(t, s, b) for t in config.threads for s in config.seq_lens for b in config.batch_sizes]
    total, done = len(cells) * len(candidates), 0
    for threads in config.threads:
        runners = []  # by position: two candidates may share a name and variant (the same folder twice)
        for candidate in candidates:
            started = time.perf_counter()
            runners.append((candidate.load(threads), time.perf_counter() - started))
        for seq_len in config.seq_lens:
            for batch in config.batch_sizes:
                for candidate, (run, load_seconds) in zip(candidates, runners):
                    done += 1
                    if candidate.max_length is not None and seq_len > candidate.max_length:
                        note = f"{candidate.model}: skipped sequence length {seq_len} (built for {candidate.max_length})"
                        if note not in result.notes:
                            result.notes.append(note)
                        continue
                    ids = rng.integers(1, max(2, candidate.vocab_size), size=(batch, seq_len), dtype=np.int64)
                    mask = np.ones_like(ids)
                    times = time_cell(lambda: run(ids, mask), config)
                    p50 = float(np.percentile(times, 50))
                    row = Row(
                        model=candidate.model, variant=candidate.variant, provider=config.provider,
                        batch_size=batch, seq_len=seq_len, threads=threads, p50_ms=p50,
                        p90_ms=float(np.percentile(times, 90)), p99_ms=float(np.percentile(times, 99)),
                        throughput=batch / p50 * 1000, repeats=len(times), load_seconds=load_seconds,
                        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                        params=candidate.params, model_sha256=candidate.sha256,
                    )
                    peak = (machine.get("matmul_peak_gflops") or {}).get(str(threads))
                    if candidate.flops_per_token is not None:
                        row.gflops = candidate.flops_per_token(seq_len) * batch * seq_len / (p50 / 1000) / 1e9
                        row.gflops_vs_matmul_peak = row.gflops / peak if peak else None
                    result.results.append(row)
                    if progress is not None:
                        progress(f"[{done}/{total}] {candidate.model} {candidate.variant} b{batch} s{seq_len} "
                                 f"t{threads}: {p50:.2f} ms")
    add_speedups(result.results, teachers={c.model for c in candidates if c.teacher})
    return result


def add_speedups(rows: list[Row], teachers: set[str] = frozenset()) -> None:
    """Fill each row's speed-ups against the teachers' rows of the same batch, length and threads: the
    PyTorch and ONNX INT8 teachers of `kdedge bench --against`, and the teacher artifacts named in
    `teachers` (their fastest variant in that cell, the one a user would deploy)."""
    reference: dict[tuple, dict[str, float]] = {}
    for row in rows:
        key = (row.batch_size, row.seq_len, row.threads, row.provider)
        if row.model in (TEACHER_TORCH, TEACHER_ONNX_INT8):
            reference.setdefault(key, {})[row.model] = row.p50_ms
        if row.model in teachers:
            best = reference.setdefault(key, {}).get("artifact")
            reference[key]["artifact"] = row.p50_ms if best is None else min(best, row.p50_ms)
    for row in rows:
        found = reference.get((row.batch_size, row.seq_len, row.threads, row.provider), {})
        if TEACHER_TORCH in found:
            row.speedup_vs_teacher_torch_fp32 = found[TEACHER_TORCH] / row.p50_ms
        if TEACHER_ONNX_INT8 in found:
            row.speedup_vs_teacher_onnx_int8 = found[TEACHER_ONNX_INT8] / row.p50_ms
        if "artifact" in found:
            row.speedup_vs_teacher_artifact = found["artifact"] / row.p50_ms


def time_cell(run: Callable[[], object], config: BenchConfig,
              clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Milliseconds per call of `run`: warm-up, then sampling until stable (see BenchConfig)."""
    started = clock()
    calls = 0
    while calls < config.warmup or clock() - started < config.warmup_seconds:
        run()
        calls += 1
    times: list[float] = []
    started = clock()
    while len(times) < config.max_repeats:
        begin = clock()
        run()
        times.append((clock() - begin) * 1000)
        elapsed = clock() - started
        if len(times) >= config.min_repeats and elapsed >= config.min_seconds:
            if elapsed > config.max_seconds:
                break
            half = len(times) // 2
            first, second = statistics.median(times[:half]), statistics.median(times[half:])
            if abs(first - second) <= config.stability * second:
                break
    return times


def providers_for(provider: str) -> list[str]:
    """onnxruntime's providers for `cpu` or `cuda`, checked to really start (BenchError otherwise)."""
    import onnxruntime as ort

    if provider == "cpu":
        return ["CPUExecutionProvider"]
    if provider == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BenchError("--provider cuda needs onnxruntime's CUDA execution provider, which this installation "
                             "lacks: install onnxruntime-gpu on a machine with an NVIDIA GPU, or use --provider cpu")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        probe = _probe_session(providers)
        if probe is not None:
            check_session_provider(probe, providers[0], "a one-node probe graph")
        return providers
    raise BenchError(f"unknown provider {provider!r}: use cpu or cuda")


def _probe_session(providers: list[str]):
    """An onnxruntime session of a one-node graph on `providers`: whether they start, before any model loads
    (None without the onnx package, as on a bare target: each model's own session is checked anyway)."""
    import onnxruntime as ort

    try:
        from onnx import TensorProto, helper
    except ImportError:
        return None

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a missing provider is only a warning to onnxruntime; checked by the caller
        return ort.InferenceSession(model.SerializeToString(), providers=providers)


def check_session_provider(session, wanted: str, what: str) -> None:
    """onnxruntime falls back to the CPU with a warning when a provider cannot start: rows labelled with the
    provider would then be CPU timings, so that is an error."""
    used = session.get_providers()[0]
    if used != wanted:
        raise BenchError(f"onnxruntime ran {what} on {used}, not {wanted}: it could not start the GPU provider; "
                         "check that onnxruntime-gpu finds its CUDA and cuDNN libraries (LD_LIBRARY_PATH) and a GPU, "
                         "or use --provider cpu")


def onnx_loader(path: Path, providers: list[str], data: bytes | None = None):
    """`load(threads)` for one ONNX file (from `data`, its checked bytes, when given): a session at that many
    intra-op threads, and its run function."""
    def load(threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a missing provider is only a warning to onnxruntime; checked below
            session = ort.InferenceSession(data if data is not None else str(path), options, providers=providers)
        check_session_provider(session, providers[0], Path(path).name)
        names = [item.name for item in session.get_inputs()]

        def run(input_ids: np.ndarray, attention_mask: np.ndarray):
            feed = {"input_ids": input_ids, "attention_mask": attention_mask,
                    "token_type_ids": np.zeros_like(input_ids)}
            return session.run(None, {name: feed[name] for name in names})

        return run

    return load


def artifact_candidates(folder: Path, name: str, providers: list[str],
                        loader: Callable[..., Callable] = onnx_loader) -> list[Candidate]:
    """The model an artifact ships, then every variant it keeps under variants/ (export.keep_variants).
    Each file is checked against the hash kdedge.json records before it is timed."""
    from tokenizers import Tokenizer

    from kdedge_runtime.manifest import read_manifest, read_verified, verify_serving_fields

    manifest = read_manifest(folder)
    vocab = Tokenizer.from_file(str(folder / manifest.tokenizer_file)).get_vocab_size()
    student = manifest.raw.get("student", {})
    models = [(manifest.raw.get("variant", "onnx"), manifest.model_file)]
    models += [(path.name.removeprefix("model.").removesuffix(".onnx"), f"{VARIANTS_DIR}/{path.name}")
               for path in sorted((folder / VARIANTS_DIR).glob("model.*.onnx"))]
    hashes = manifest.raw.get("hashes") or {}
    verify_serving_fields(folder, manifest)
    checked = {file: read_verified(folder, file, manifest) for _, file in models}  # the bytes timed are those hashed
    teacher = student.get("kind") == "teacher"
    return [
        Candidate(
            model=f"{name} ({student.get('kind', 'student')})",
            variant=variant,
            load=loader(folder / file, providers, checked[file]),
            vocab_size=vocab,
            params=student.get("params"),
            max_length=(student.get("config", {}).get("max_position") or manifest.max_length)
            if student.get("kind") == "transformer" else None,  # its position table: longer inputs cannot run
            teacher=teacher,
            sha256=(hashes.get(file) or {}).get("sha256"),
        )
        for variant, file in models
    ]


def run_artifacts(folders: list[Path], config: BenchConfig, machine: dict, extra: list[Candidate] = (),
                  notes: list[str] | None = None, progress=None,
                  loader: Callable[..., Callable] = onnx_loader) -> BenchResult:
    """Time the artifacts in `folders` (and any `extra` candidates, e.g. a PyTorch teacher) side by side."""
    folders = [Path(folder) for folder in folders]
    require_artifacts(folders)
    providers = providers_for(config.provider)
    candidates = [candidate for folder, name in zip(folders, artifact_names(folders), strict=True)
                  for candidate in artifact_candidates(folder, name, providers, loader)]
    return measure(candidates + list(extra), config, machine, notes, progress)
