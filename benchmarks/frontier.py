"""The compression-quality frontier: both student kinds at several compression targets, over seeds.

    python benchmarks/frontier.py --task sentiment [--kinds bilstm transformer] [--targets 10 30 50 100]
                                  [--seeds 0 1 2]
    python benchmarks/frontier.py --task ner
    python benchmarks/frontier.py --task sentiment --kinds transformer --seeds 0 --add   # beside the last table's kinds
    python benchmarks/frontier.py --task ner --kinds transformer --seeds 0 1 2 --add --reuse   # only the new seeds
    python benchmarks/frontier.py --task ner --replot   # the table and plot again from the results JSON

For each kind, target and seed, `kdedge compress` distils a student from the task's recipe
(`sentiment-bilstm` or `sentiment-transformer`; `ner-bilstm` or `ner-transformer`) with
`--set student.target=<N>x` and that seed as `student.seed` and `distill.seed`. All of a task's runs
share one run directory, so the teacher is fine-tuned and the transfer set labelled once
(`teacher.seed` and `data.seed` stay 0: the seeds measure the student's spread, on one split). A
target no student of that kind can reach is reported, not fatal. One `kdedge bench` run then times
every first-seed student and the teacher at batch 32 x 128 tokens. `--reuse` skips the artifacts
already built from the same recipe, target and seed.

Writes `benchmarks/results/frontier_<task>.{json,md,png}`: one table (quality kept, mean ± sd over seeds,
against compression and against measured latency) and one plot with both views, and says up to which
target each kind keeps 97% of the teacher's quality.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

from kdedge.bench.machine import fingerprint, machine_line
from kdedge.bench.spread import mean_sd
from kdedge.recipe import load_recipe

RECIPES = {("sentiment", "bilstm"): ("sentiment-bilstm", []),
           ("sentiment", "transformer"): ("sentiment-transformer", []),
           ("ner", "bilstm"): ("ner-bilstm", []),
           ("ner", "transformer"): ("ner-transformer", [])}
KEEP = 0.97


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("sentiment", "ner"), default="sentiment")
    parser.add_argument("--kinds", nargs="+", choices=("bilstm", "transformer"), default=["bilstm", "transformer"])
    parser.add_argument("--targets", type=float, nargs="+", default=[10, 30, 50, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--teacher-from", type=Path, default=None,
                        help="an earlier run folder of the task's recipe: its fine-tuned teacher and cached outputs "
                             "are copied in, so only students are trained")
    parser.add_argument("--add", action="store_true",
                        help="keep the rows of the other kinds from the task's last results (their artifacts must "
                             "still be on disk) and time them again with this run's students in one kdedge bench: "
                             "one table for kinds measured with different seeds or targets")
    parser.add_argument("--reuse", action="store_true",
                        help="read an artifact already in the output folder instead of compressing again when the "
                             "recipe it records is this run's (same recipe, target and seeds); code changes since "
                             "it was built are not detected")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--replot", action="store_true",
                        help="only write the table and plot again from the task's results JSON (nothing is run)")
    args = parser.parse_args()
    name = f"frontier_{args.task}"
    if args.replot:
        summary = json.loads((args.output_dir / f"{name}.json").read_text())
        (args.output_dir / f"{name}.md").write_text(markdown(summary))
        plot(summary, args.output_dir / f"{name}.png")
        return
    work = args.output_dir / name
    earlier_runs, earlier_rows = earlier_results(args.output_dir / f"{name}.json", args.kinds) if args.add else ([], [])
    run_dir = work / "run"
    if args.teacher_from and not (run_dir / "teacher").is_dir():
        for part in ("teacher", "teacher_cache"):
            shutil.copytree(args.teacher_from / part, run_dir / part, dirs_exist_ok=True)
    started = time.perf_counter()
    rows, reused = [], 0
    for kind in args.kinds:
        recipe, extra = RECIPES[(args.task, kind)]
        for target in args.targets:
            for seed in args.seeds:
                artifact = work / f"{kind}-{target:g}x-seed{seed}"
                sets = [*extra, f"student.target={target:g}x", f"student.seed={seed}", f"distill.seed={seed}"]
                command = ["kdedge", "compress", "--recipe", recipe, *(p for s in sets for p in ("--set", s)),
                           "--output", str(artifact), "--run-dir", str(run_dir)]
                row = {"kind": kind, "target": target, "seed": seed, "recipe": recipe, "artifact": str(artifact)}
                if args.reuse and built_from(artifact, recipe, sets):
                    print(f"reusing {artifact} (built from this recipe)", flush=True)
                    reused += 1
                else:
                    print("$", " ".join(command), flush=True)
                    done = subprocess.run(command, capture_output=True, text=True)
                    print(done.stdout[-2000:], done.stderr[-2000:], flush=True)
                    if done.returncode != 0:
                        row["error"] = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:]
                        rows.append(row)
                        break  # the other seeds of an unreachable target fail the same way
                manifest = json.loads((artifact / "kdedge.json").read_text())
                metrics = manifest["metrics"]
                metric = "entity_f1" if "entity_f1" in metrics["teacher"] else "accuracy"
                row.update(metric=metric, teacher=metrics["teacher"][metric], student=metrics["student_onnx"][metric],
                           params=manifest["student"]["params"], compression=manifest["compression"],
                           variant=manifest["variant"])
                rows.append(row)
    command = " ".join(["python benchmarks/frontier.py --task", args.task, "--kinds", *args.kinds,
                        "--targets", *(f"{t:g}" for t in args.targets), "--seeds", *map(str, args.seeds),
                        *(["--teacher-from", str(args.teacher_from)] if args.teacher_from else []),
                        *(["--add"] if args.add else []), *(["--reuse"] if args.reuse else [])])
    rows = [*earlier_rows, *rows]
    first_seed = {}
    for row in rows:
        first_seed.setdefault(row["kind"], row["seed"])
    latency = bench([row for row in rows if "error" not in row and row["seed"] == first_seed[row["kind"]]],
                    run_dir / "teacher", work / "bench.json")
    runs = [*earlier_runs, {"command": command, "kinds": args.kinds, "minutes": (time.perf_counter() - started) / 60,
                            "reused": reused}]
    summary = {"runs": runs, "machine": fingerprint(), "rows": rows, "latency": latency}
    (args.output_dir / f"{name}.json").write_text(json.dumps(summary, indent=2))
    text = markdown(summary)
    (args.output_dir / f"{name}.md").write_text(text)
    plot(summary, args.output_dir / f"{name}.png")
    print(text)


def built_from(artifact: Path, recipe: str, sets: list[str]) -> bool:
    """Whether `artifact` is a finished artifact of `recipe` with `sets` applied (`--reuse`)."""
    manifest = artifact / "kdedge.json"
    if not manifest.is_file():
        return False
    wanted = json.loads(json.dumps(load_recipe(recipe).with_overrides(sets).to_dict()))
    return json.loads(manifest.read_text()).get("recipe") == wanted


def earlier_results(path: Path, kinds: list[str]) -> tuple[list[dict], list[dict]]:
    """The runs and rows of the kinds not measured again, from the task's last results (`--add`)."""
    if not path.is_file():
        return [], []
    summary = json.loads(path.read_text())
    rows = [row for row in summary["rows"] if row["kind"] not in kinds]
    missing = sorted({row["artifact"] for row in rows if "error" not in row and not Path(row["artifact"]).is_dir()})
    if missing:
        raise SystemExit(f"--add: {len(missing)} artifacts of {path} are gone (e.g. {missing[0]}); "
                         "measure those kinds again without --add")
    return [run for run in runs_of(summary) if not set(run["kinds"]) & set(kinds)], rows


def runs_of(summary: dict) -> list[dict]:
    """The commands that made a results file (one, in files written before --add)."""
    if "runs" in summary:
        return summary["runs"]
    kinds = list(dict.fromkeys(row["kind"] for row in summary["rows"]))
    return [{"command": summary["command"], "kinds": kinds, "minutes": summary["minutes"]}]


def bench(rows: list[dict], teacher: Path, output: Path) -> dict:
    """Median batch-32 x 128-token latency per artifact and the teacher's (PyTorch fp32), from one run
    (with `--add`, the kept kinds' first-seed students are timed again beside the new ones)."""
    if not rows:
        return {}
    command = ["kdedge", "bench", *(row["artifact"] for row in rows), "--batch-sizes", "32", "--seq-lens", "128",
               "--json", str(output), "--quiet"]
    if teacher.is_dir():
        command += ["--against", str(teacher)]
    print("$", " ".join(command), flush=True)
    if subprocess.run(command).returncode != 0:  # the quality table still stands without the timings
        print("kdedge bench failed: the table has no latency column", flush=True)
        return {}
    result = json.loads(output.read_text())
    latency = {}
    for row in rows:
        folder = Path(row["artifact"]).name
        timed = [r for r in result["results"] if r["model"].startswith(f"{folder} (")]
        if timed:
            best = min(timed, key=lambda r: r["p50_ms"] if r["variant"] == row["variant"] else float("inf"))
            latency[row["artifact"]] = {"p50_ms": best["p50_ms"],
                                        "speedup_vs_teacher_torch_fp32": best["speedup_vs_teacher_torch_fp32"]}
    teacher_rows = [r for r in result["results"] if r["model"].startswith("teacher") and "torch" in r["variant"]]
    if teacher_rows:
        latency["teacher"] = {"p50_ms": teacher_rows[0]["p50_ms"]}
    return latency


def grouped(summary: dict) -> list[dict]:
    """One entry per kind and target: the mean and spread over seeds (or the reason it was unreachable)."""
    groups = {}
    for row in summary["rows"]:
        groups.setdefault((row["kind"], row["target"]), []).append(row)
    out = []
    for (kind, target), rows in groups.items():
        ok = [row for row in rows if "error" not in row]
        if not ok:
            out.append({"kind": kind, "target": target, "error": " ".join(rows[0]["error"])})
            continue
        kept = [row["student"] / row["teacher"] for row in ok]
        student_mean, student_sd = mean_sd(row["student"] for row in ok)
        kept_mean, kept_sd = mean_sd(kept)
        first = next(row for row in ok)
        timing = summary["latency"].get(first["artifact"], {})
        out.append({"kind": kind, "target": target, "seeds": len(ok), "params": first["params"],
                    "compression": first["compression"], "teacher": ok[0]["teacher"], "metric": first["metric"],
                    "student_mean": student_mean, "student_sd": student_sd, "kept_mean": kept_mean, "kept_sd": kept_sd,
                    "variant": first["variant"], "p50_ms": timing.get("p50_ms"),
                    "speedup": timing.get("speedup_vs_teacher_torch_fp32")})
    return out


def markdown(summary: dict) -> str:
    groups = grouped(summary)
    machine = summary["machine"]
    metric = next((g["metric"] for g in groups if "metric" in g), "score").replace("_", " ")
    lines = [*(f"command: `{run['command']}` ({run['minutes']:.0f} min"
               + (f"; {run['reused']} artifacts reused, built by an earlier run)" if run.get("reused") else ")")
               for run in runs_of(summary)),
             machine_line(machine), "",
             f"| student | target | parameters | test {metric} (mean ± sd) | kept | seeds | batch 32 x 128 | "
             "vs teacher (PyTorch fp32) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for g in groups:
        if "error" in g:
            lines.append(f"| {g['kind']} | {g['target']:g}x | — | unreachable: {g['error']} | | | | |")
            continue
        latency = f"{g['p50_ms']:.2f} ms" if g["p50_ms"] else "—"
        speedup = f"{g['speedup']:.0f}x" if g["speedup"] else "—"
        if g["seeds"] > 1:
            score = f"{g['student_mean']:.4f} ± {g['student_sd']:.4f} | {g['kept_mean']:.1%} ± {g['kept_sd']:.1%}"
        else:  # one seed has no spread to show
            score = f"{g['student_mean']:.4f} | {g['kept_mean']:.1%}"
        lines.append(f"| {g['kind']} ({g['variant']}) | {g['target']:g}x | {g['params']:,} | {score} | {g['seeds']} | "
                     f"{latency} | {speedup} |")
    teacher = next((g["teacher"] for g in groups if "teacher" in g), None)
    if teacher is not None:
        timing = summary["latency"].get("teacher", {}).get("p50_ms")
        lines.append(f"| teacher | 1x | | {teacher:.4f} | 100% | | {f'{timing:.1f} ms' if timing else '—'} | 1x |")
    lines += ["", *keeps_line(groups)]
    return "\n".join(lines) + "\n"


def keeps_line(groups: list[dict]) -> list[str]:
    """Per kind: the highest target whose mean keeps 97% of the teacher's quality."""
    lines = []
    for kind in dict.fromkeys(g["kind"] for g in groups):
        reached = [g["target"] for g in groups if g["kind"] == kind and "error" not in g and g["kept_mean"] >= KEEP]
        lines.append(f"- {kind}: keeps {KEEP:.0%} of the teacher's quality "
                     + (f"up to {max(reached):g}x (mean over seeds)." if reached else "at none of the targets measured."))
    return lines


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    groups = [g for g in grouped(summary) if "error" not in g]
    figure, (by_size, by_speed) = plt.subplots(1, 2, figsize=(11, 4.2))
    for kind in dict.fromkeys(g["kind"] for g in groups):
        mine = sorted((g for g in groups if g["kind"] == kind), key=lambda g: g["compression"])
        by_size.errorbar([g["compression"] for g in mine], [100 * g["kept_mean"] for g in mine],
                         yerr=[100 * g["kept_sd"] for g in mine], marker="o", capsize=3, label=kind)
        timed = [g for g in mine if g["p50_ms"]]
        by_speed.errorbar([g["p50_ms"] for g in timed], [100 * g["kept_mean"] for g in timed],
                          yerr=[100 * g["kept_sd"] for g in timed], marker="o", capsize=3, label=kind)
        for g in timed:
            by_speed.annotate(f"{g['target']:g}x", (g["p50_ms"], 100 * g["kept_mean"]), fontsize=8,
                              textcoords="offset points", xytext=(4, 4))
    latencies = [g["p50_ms"] for g in groups if g["p50_ms"]]
    steps = [m * 10 ** e for e in range(-1, 5) for m in (1, 2, 5)]
    speed_ticks = [t for t in steps if min(latencies, default=1) / 1.5 <= t <= max(latencies, default=1) * 1.5]
    for axis, label, ticks in ((by_size, "compression (teacher parameters / student parameters)",
                                sorted({g["target"] for g in groups})),
                               (by_speed, "median latency, batch 32 x 128 tokens (ms, this CPU)", speed_ticks)):
        axis.axhline(100 * KEEP, color="grey", linestyle="--", linewidth=0.8)
        axis.set_xscale("log")
        axis.set_xticks(ticks)  # plain numbers at the targets and at 1-2-5 steps, not 10^k labels
        axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel(label)
        axis.set_ylabel("teacher's quality kept (%)")
        axis.legend()
    figure.suptitle("\n".join(run["command"] for run in runs_of(summary)), fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
