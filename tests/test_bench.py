import json
from pathlib import Path

import jsonschema
import onnxruntime
import pytest
from conftest import tiny_recipe
from typer.testing import CliRunner

from kdedge.bench.runner import TEACHER_ONNX_INT8, TEACHER_TORCH, BenchConfig, Row, _time, add_speedups, run_benchmark
from kdedge.cli import app
from kdedge.pipeline.compress import compress

SCHEMA = json.loads((Path(__file__).parent.parent / "runtime" / "kdedge_runtime" / "bench" / "schema.json").read_text())
TINY = BenchConfig(batch_sizes=(1, 4), seq_lens=(8,), threads=(1,), min_repeats=3, min_seconds=0.05, max_seconds=0.3,
                   warmup_seconds=0.05)


@pytest.fixture(scope="module")
def artifact(tiny_teacher_dir, tiny_csv, tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    compress(tiny_recipe(tiny_teacher_dir, tiny_csv, distill={"epochs": 2},
                         export={"min_agreement": 0.9, "keep_variants": True}),
             root / "artifact", root / "run")
    return root / "artifact"


def test_rows_cover_every_model_and_setting(artifact, tiny_teacher_dir):
    result = run_benchmark([artifact], str(tiny_teacher_dir), TINY)
    models = {row.model for row in result.results}
    assert {TEACHER_TORCH, "teacher-onnx-fp32", TEACHER_ONNX_INT8} < models and len(models) == 4
    # the artifact's shipped model and each variant it keeps are measured side by side
    manifest = json.loads((artifact / "kdedge.json").read_text())
    passed = sorted(row["variant"] for row in manifest["variants"] if row["passed"])
    student_variants = sorted(row.variant for row in result.results if row.model.startswith("artifact"))
    assert student_variants == sorted(passed * 2) and len(passed) == 3
    assert sorted(p.name for p in (artifact / "variants").iterdir()) == sorted(
        f"model.{v}.onnx" for v in passed if v != manifest["variant"])
    assert len(result.results) == (3 + len(passed)) * 2  # every model and variant x two batch sizes
    for row in result.results:
        assert row.p50_ms <= row.p90_ms <= row.p99_ms
        assert row.throughput == pytest.approx(row.batch_size / row.p50_ms * 1000)
        assert row.repeats >= 3
    teacher = next(r for r in result.results if r.model == TEACHER_TORCH)
    assert teacher.gflops > 0 and 0 < teacher.gflops_vs_matmul_peak
    jsonschema.validate(result.to_dict(), SCHEMA)


def test_artifacts_with_the_same_folder_name_are_each_timed_and_told_apart(artifact, tmp_path, monkeypatch):
    import shutil

    from kdedge.bench import runner

    copies = [shutil.copytree(artifact, tmp_path / side / "artifact") for side in ("left", "right")]
    ran = []

    def recording_loader(path, providers, data=None):
        return lambda threads: lambda ids, mask: ran.append(Path(path))

    monkeypatch.setattr(runner, "_onnx_loader", recording_loader)
    result = run_benchmark(copies, None, TINY)
    assert {row.model for row in result.results} == {"left/artifact (bilstm)", "right/artifact (bilstm)"}
    # each copy's rows timed its own models (not the last-loaded copy's twice)
    assert {path.relative_to(tmp_path).parts[0] for path in ran} == {"left", "right"}
    assert len(set(ran)) == 2 * len({row.variant for row in result.results})


def test_artifact_names_grow_only_as_far_as_they_must(tmp_path):
    from kdedge.bench.runner import artifact_names

    folders = [tmp_path / "a" / "artifact", tmp_path / "b" / "artifact", tmp_path / "c" / "other",
               tmp_path / "x" / "same" / "model", tmp_path / "y" / "same" / "model", tmp_path / "c" / "other"]
    assert artifact_names(folders) == ["a/artifact", "b/artifact", "other", "x/same/model", "y/same/model", "other"]


def test_speedups_are_ratios_of_medians_in_the_same_setting():
    def row(model, batch, p50):
        return Row(model, "v", "cpu", batch, 128, 2, p50, p50, p50, batch / p50 * 1000, 5, 0.1, 10.0)

    rows = [row(TEACHER_TORCH, 32, 400.0), row(TEACHER_ONNX_INT8, 32, 80.0), row("student", 32, 2.0),
            row(TEACHER_TORCH, 1, 20.0), row("student", 1, 1.0), row("student", 8, 1.0)]
    add_speedups(rows)
    assert rows[2].speedup_vs_teacher_torch_fp32 == 200 and rows[2].speedup_vs_teacher_onnx_int8 == 40
    assert rows[0].speedup_vs_teacher_torch_fp32 == 1 and rows[1].speedup_vs_teacher_torch_fp32 == 5
    assert rows[4].speedup_vs_teacher_torch_fp32 == 20 and rows[4].speedup_vs_teacher_onnx_int8 is None
    assert rows[5].speedup_vs_teacher_torch_fp32 is None  # no teacher row at batch 8


def test_timing_stops_at_the_cap():
    import time

    config = BenchConfig(min_repeats=2, max_repeats=1000, min_seconds=0.05, max_seconds=0.2, stability=0.0,
                         warmup_seconds=0.0)
    started = time.perf_counter()
    times = _time(lambda: time.sleep(0.01), config)
    assert time.perf_counter() - started < 1.0 and len(times) >= 2


def test_fast_cells_still_sample_for_the_minimum_time():
    import time

    config = BenchConfig(min_seconds=0.3, max_seconds=2.0, stability=1.0, warmup_seconds=0.0)  # stable after 0.3 s
    started = time.perf_counter()
    times = _time(lambda: time.sleep(0.0001), config)  # ~0.1 ms: a tiny model at batch 1
    assert time.perf_counter() - started >= 0.3 and len(times) > 200


def test_cli_writes_json_markdown_and_plot(artifact, tiny_teacher_dir, tmp_path):
    args = ["bench", str(artifact), "--against", str(tiny_teacher_dir), "--batch-sizes", "2", "--seq-lens", "8",
            "--threads", "1", "--max-seconds", "0.3", "--json", str(tmp_path / "b.json"),
            "--markdown", str(tmp_path / "b.md"), "--plot", str(tmp_path / "b.png"), "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "b.json").read_text())
    jsonschema.validate(document, SCHEMA)
    assert document["machine"]["cores"] >= 1 and document["machine"]["matmul_peak_gflops"]["1"] > 0
    markdown = (tmp_path / "b.md").read_text()
    assert "| model |" in markdown and "matmul peak" in markdown
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


def test_not_an_artifact_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["bench", str(tmp_path)])
    assert result.exit_code == 2 and "not a kdedge artifact" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.skipif("CUDAExecutionProvider" in onnxruntime.get_available_providers(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_one_line(artifact):
    result = CliRunner().invoke(app, ["bench", str(artifact), "--provider", "cuda"])
    assert result.exit_code == 2 and "CUDA" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("text", ["0,8", "a,b", ""])
def test_bad_batch_sizes(artifact, text):
    result = CliRunner().invoke(app, ["bench", str(artifact), "--batch-sizes", text])
    assert result.exit_code == 2 and "--batch-sizes" in result.output


def test_a_silent_fall_back_to_the_cpu_is_refused(artifact, monkeypatch):
    # an onnxruntime that lists the CUDA provider but cannot start it builds a CPU session with a warning only;
    # rows labelled "cuda" would then be CPU timings
    listed = onnxruntime.get_available_providers()
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", *listed])
    result = CliRunner().invoke(app, ["bench", str(artifact), "--provider", "cuda", "--batch-sizes", "1",
                                      "--seq-lens", "8", "--threads", "1"])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "ran a one-node probe graph on CPUExecutionProvider, not CUDAExecutionProvider" in result.output
    assert "--provider cpu" in result.output


@pytest.mark.gpu
@pytest.mark.skipif("CUDAExecutionProvider" not in onnxruntime.get_available_providers(), reason="needs onnxruntime-gpu")
def test_cuda_rows_run_on_the_gpu(artifact, tmp_path):
    result = CliRunner().invoke(app, ["bench", str(artifact), "--provider", "cuda", "--batch-sizes", "1,32",
                                      "--seq-lens", "32", "--threads", "1", "--json", str(tmp_path / "bench.json")])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "bench.json").read_text())["results"]
    assert rows and all(row["provider"] == "cuda" for row in rows)


@pytest.mark.skipif("CUDAExecutionProvider" in onnxruntime.get_available_providers(), reason="a GPU is present")
def test_each_model_session_is_checked_too(artifact):
    from kdedge.bench.runner import _onnx_loader
    from kdedge_runtime.bench.timing import BenchError

    load = _onnx_loader(artifact / "model.onnx", ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(BenchError, match="ran model.onnx on CPUExecutionProvider, not CUDAExecutionProvider"):
        load(1)
    assert _onnx_loader(artifact / "model.onnx", ["CPUExecutionProvider"])(1) is not None  # the CPU as asked


def test_end_to_end_mode_reports_the_share_outside_the_model(artifact, tmp_path):
    from kdedge_runtime import Predictor

    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(f"the game was {'really ' * (i % 7)}fun, day {i}" for i in range(100)) + "\n")
    args = ["bench", str(artifact), "--texts", str(texts), "--batch-sizes", "4,16", "--threads", "1",
            "--min-seconds", "0.05", "--max-seconds", "0.3", "--json", str(tmp_path / "e.json"),
            "--markdown", str(tmp_path / "e.md"), "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "outside" in result.output
    rows = json.loads((tmp_path / "e.json").read_text())["results"]
    assert [row["batch_size"] for row in rows] == [4, 16]
    for row in rows:
        assert 0 < row["model_share"] < 1 and row["model_share"] + row["outside_share"] == pytest.approx(1)
        assert row["texts_per_second"] > 0 and row["calls"] >= 5 and row["texts"] == 100
    assert "| in the ONNX model | outside |" in (tmp_path / "e.md").read_text()
    predictor = Predictor(artifact, threads=1)  # the clock it reads: time inside the ONNX session
    assert predictor.model_seconds == 0
    predictor.predict(["one text", "two texts"])
    assert predictor.model_seconds > 0


def test_end_to_end_with_no_texts_is_one_line(artifact, tmp_path):
    (tmp_path / "empty.csv").write_text("id,body\n1,hi\n")
    result = CliRunner().invoke(app, ["bench", str(artifact), "--texts", str(tmp_path / "empty.csv")])
    assert result.exit_code == 2 and "has no column 'text'" in result.output
    assert len(result.output.strip().splitlines()) == 1
