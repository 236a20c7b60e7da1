"""`kdedge-runtime bench` (the runtime alone) on a student and its teacher artifact, in batch cells and
MLPerf's scenarios, and `--compare` of its JSON beside a `kdedge bench` run."""

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import tiny_recipe
from typer.testing import CliRunner

from kdedge.cli import app
from kdedge_runtime.cli import main as runtime_main

SCHEMA = json.loads((Path(__file__).parent.parent / "runtime" / "kdedge_runtime" / "bench" / "schema.json").read_text())
TINY = ["--batch-sizes", "1,4", "--seq-lens", "8", "--threads", "1", "--min-seconds", "0.05", "--max-seconds", "0.2"]


@pytest.fixture(scope="module")
def teacher_artifact(tiny_teacher_dir, tiny_csv, tmp_path_factory):
    from kdedge.pipeline.export_teacher import export_teacher

    root = tmp_path_factory.mktemp("teacher-artifact")
    export_teacher(tiny_recipe(tiny_teacher_dir, tiny_csv), root / "teacher", root / "run")
    return root / "teacher"


@pytest.fixture(scope="module")
def runtime_run(artifact, teacher_artifact, tmp_path_factory):
    out = tmp_path_factory.mktemp("runtime-bench") / "runtime.json"
    code = runtime_main(["bench", str(artifact), str(teacher_artifact), *TINY, "--scenarios", "all",
                         "--p99-bound-ms", "250", "--scenario-seconds", "0.4", "--json", str(out)])
    assert code == 0
    return json.loads(out.read_text())


def test_runtime_bench_times_the_student_beside_its_teacher_artifact(runtime_run):
    jsonschema.validate(runtime_run, SCHEMA)
    assert "torch" not in runtime_run["machine"] and runtime_run["machine"]["kdedge_runtime"]
    rows = runtime_run["results"]
    students = [r for r in rows if r["model"].endswith("(bilstm)")]
    teachers = [r for r in rows if r["model"].endswith("(teacher)")]
    assert students and teachers and all(r["model_sha256"] for r in rows)
    for row in students:  # against the teacher artifact's fastest variant in the same cell
        fastest = min(t["p50_ms"] for t in teachers if (t["batch_size"], t["seq_len"]) == (row["batch_size"],
                                                                                             row["seq_len"]))
        assert row["speedup_vs_teacher_artifact"] == pytest.approx(fastest / row["p50_ms"])
    assert min(t["speedup_vs_teacher_artifact"] for t in teachers) <= 1.0 + 1e-9
    assert max(t["speedup_vs_teacher_artifact"] for t in teachers) == pytest.approx(1.0)


def test_runtime_bench_runs_the_three_scenarios_for_each_artifact(runtime_run):
    found = {(s["model"].rsplit(" ", 1)[0], s["scenario"]): s for s in runtime_run["scenarios"]}
    assert {scenario for _, scenario in found} == {"single-stream", "offline", "server"} and len(found) == 6
    for (_, scenario), result in found.items():
        if scenario == "single-stream":
            assert result["queries"] >= 1 and result["p50_ms"] <= result["p90_ms"] <= result["p99_ms"]
        elif scenario == "offline":
            assert result["samples"] >= 1000 and result["samples_per_second"] > 0  # the synthetic texts, whole
        else:
            assert result["target"] == "in-process" and result["bound_ms"] == 250
            assert result["peak_queries_per_second"] is not None and result["peak_queries_per_second"] >= 8
            held = [run for run in result["runs"] if run["passed"]]
            assert all(run["p99_ms"] <= 250 for run in held)


def test_kdedge_bench_compare_reads_both_tools_runs(artifact, runtime_run, tmp_path):
    (tmp_path / "runtime.json").write_text(json.dumps(runtime_run))
    result = CliRunner().invoke(app, ["bench", str(artifact), *TINY, "--json", str(tmp_path / "full.json"), "--quiet"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["bench", "--compare", str(tmp_path / "full.json"), "--compare",
                                      str(tmp_path / "runtime.json"), "--markdown", str(tmp_path / "c.md"),
                                      "--plot", str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "c.md").read_text()
    assert "- M1: " in text and "- M2: " in text and "| M1 p50 ms | M1 vs teacher | M2 p50 ms |" in text
    assert "x teacher artifact" in text and "| M2 | artifact | server |" in text
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert runtime_main(["bench", "--compare", str(tmp_path / "full.json"), str(tmp_path / "runtime.json")]) == 0


def test_compare_refuses_another_schema_or_another_model_file_in_one_line(runtime_run, tmp_path, capsys):
    old = {**runtime_run, "schema": "kdedge.bench/0"}
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(runtime_run))
    changed = json.loads(json.dumps(runtime_run))
    changed["results"][0]["model_sha256"] = "0" * 64
    (tmp_path / "changed.json").write_text(json.dumps(changed))
    assert runtime_main(["bench", "--compare", str(tmp_path / "new.json"), str(tmp_path / "old.json")]) == 2
    assert "has schema 'kdedge.bench/0', not 'kdedge.bench/1'" in capsys.readouterr().err
    result = CliRunner().invoke(app, ["bench", "--compare", str(tmp_path / "new.json"), "--compare",
                                      str(tmp_path / "changed.json")])
    assert result.exit_code == 2 and "is a different model file" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bad_runtime_bench_options_are_one_line(artifact, tmp_path, capsys):
    for args, words in ((["bench"], "needs artifact folders"), (["bench", str(tmp_path)], "not a kdedge artifact"),
                        (["bench", str(artifact), "--batch-sizes", "0"], "--batch-sizes takes positive integers"),
                        (["bench", str(artifact), "--scenarios", "batch"], "unknown scenario 'batch'")):
        assert runtime_main(args) == 2
        error = capsys.readouterr().err
        assert words in error and len(error.strip().splitlines()) == 1
