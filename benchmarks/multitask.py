"""Multi-task (MKD) against single-task students of the same size, on the packaged data.

    python benchmarks/multitask.py [--recipe multitask-bilstm] [--seeds 0 1 2] [--set KEY=VALUE ...] [--name NAME]

Distils the multi-task recipe (one BiLSTM for tweet sentiment and tweet NER with the parameters of
both single-task students together) and compares each task's test score with the single-task students
that `benchmarks/compress_default.py` (sentiment) and `benchmarks/compress_default.py --recipe
ner-bilstm` (NER) wrote: same teachers, same data. When those runs are in the results folder,
their fine-tuned teachers and cached teacher outputs are reused, so only the student is trained here.
`--seeds` repeats the multi-task distillation with other distillation seeds (same teachers and splits)
and reports the mean ± sd. Latency of the (first seed's) multi-task artifact (both tasks, one pass)
and of the two single-task artifacts (one pass each) is measured side by side in this run, on one
batch of 32 test tweets.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from kdedge.bench.machine import fingerprint, machine_line
from kdedge.bench.spread import mean_sd, spread

SINGLE = {"sentiment": "compress_default", "ner": "compress_ner-bilstm"}


def main() -> None:
    from kdedge.export.latency import median_ms
    from kdedge.pipeline.multitask import compress_multitask
    from kdedge.progress import Reporter
    from kdedge.recipe import load_recipe
    from kdedge_runtime import Predictor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="multitask-bilstm")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="a recipe override (key=value), e.g. distill.task_sampling=uniform")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="distillation seeds (distill.seed, student.seed; same teachers and splits): mean ± sd")
    parser.add_argument("--name", default=None, help="results name (default: multitask_<recipe>)")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    results_name = args.name or f"multitask_{args.recipe}"
    work = args.output_dir / results_name
    work.mkdir(parents=True, exist_ok=True)
    task_runs = {name: args.output_dir / stem / "run" for name, stem in SINGLE.items()
                 if (args.output_dir / stem / "run").is_dir()}
    started = time.perf_counter()
    manifests = []
    for number, seed in enumerate(args.seeds):
        folder = work if number == 0 else work / f"seed{seed}"  # the first seed's artifact is the one timed
        shutil.rmtree(folder / "artifact", ignore_errors=True)
        recipe = load_recipe(args.recipe).with_overrides([*args.overrides, f"distill.seed={seed}", f"student.seed={seed}"])
        result = compress_multitask(recipe, folder / "artifact", folder / "run", Reporter(), task_run_dirs=task_runs)
        manifests.append(result.manifest)
    minutes = (time.perf_counter() - started) / 60
    manifest = manifests[0]
    machine = fingerprint()
    command = " ".join(["python benchmarks/multitask.py --recipe", args.recipe, *(f"--set '{item}'" for item in args.overrides),
                        *(["--seeds", *map(str, args.seeds)] if args.seeds != [0] else []),
                        *(["--name", args.name] if args.name else [])])

    singles = {}
    for name, stem in SINGLE.items():
        path = args.output_dir / f"{stem}.json"
        if path.is_file():
            singles[name] = json.loads(path.read_text())
    metrics = manifest["metrics"]
    lines = [
        f"command: `{command}` ({minutes:.1f} min; teachers and caches "
        f"reused from {', '.join(str(p) for p in task_runs.values()) or 'nowhere: trained here'})",
        machine_line(machine),
        "",
        "| task | metric | teacher (MiniLM-L6) | single-task student | multi-task student | multi-task / single |",
        "|---|---|---:|---:|---:|---:|",
    ]
    rows = []
    for task in manifest["tasks"]:
        name = task["name"]
        metric = "entity_f1" if task["task"] == "token-classification" else "accuracy"
        teacher = metrics["teacher"][f"{name}.{metric}"]
        seeds = [each["metrics"]["student_onnx"][f"{name}.{metric}"] for each in manifests]
        multi = mean_sd(seeds)[0]
        single = singles.get(name, {}).get("manifest", {}).get("metrics", {}).get("student_onnx", {}).get(metric)
        rows.append({"task": name, "metric": metric, "teacher": teacher, "single": single, "multi": multi,
                     "multi_seeds": seeds})
        lines.append(f"| {name} | {metric.replace('_', ' ')} | {teacher:.4f} | "
                     f"{'—' if single is None else f'{single:.4f}'} | "
                     f"{spread(seeds) if len(seeds) > 1 else f'{multi:.4f}'} | "
                     f"{'—' if not single else f'{multi / single:.1%}'} |")

    if len(manifests) > 1:
        lines += ["", f"Multi-task student per seed ({', '.join(map(str, args.seeds))}): "
                  + "; ".join(f"{row['task']} " + ", ".join(f"{value:.4f}" for value in row["multi_seeds"])
                              for row in rows) + "."]
    single_params = {name: run["manifest"]["student"]["params"] for name, run in singles.items()}
    teacher_params = [teacher["params"] for teacher in manifest["teacher"].values()]
    lines += ["", f"Parameters: multi-task student {manifest['student']['params']:,} for both tasks; single-task "
              f"students {' + '.join(f'{p:,}' for p in single_params.values()) or '—'}; teachers "
              f"{' + '.join(f'{p:,}' for p in teacher_params)}."]

    from kdedge.data.tasks import load_data
    from kdedge.recipe import task_recipes

    sentiment_recipe = task_recipes(recipe)["sentiment"]
    texts = load_data(sentiment_recipe.data, cache_dir=work / "run" / "cache" / "datasets").test.texts[:32]
    timings = {}
    multi_predictor = Predictor(work / "artifact", threads=machine["cores"])
    encoded = multi_predictor.encoder.encode_words(texts)[0]
    ids, mask = multi_predictor.encoder.pad(encoded)
    timings["multi-task (both tasks)"] = median_ms(lambda: multi_predictor.run_all(ids, mask), repeats=50, warmup=5)
    single_total = 0.0
    for name, stem in SINGLE.items():
        folder = args.output_dir / stem / "artifact"
        if not folder.is_dir():
            continue
        predictor = Predictor(folder, threads=machine["cores"])
        encoder = predictor.encoder
        single_ids, single_mask = encoder.pad(encoder.encode_words(texts)[0] if name == "ner" else encoder.encode(texts))
        timings[f"single-task {name}"] = median_ms(lambda p=predictor, a=single_ids, b=single_mask: p.run(a, b),
                                                   repeats=50, warmup=5)
        single_total += timings[f"single-task {name}"]
    lines += ["", "CPU latency, one batch of 32 test tweets, measured side by side in this run (shipped variants):", "",
              "| model | latency |", "|---|---:|"]
    lines += [f"| {name} | {ms:.2f} ms |" for name, ms in timings.items()]
    if single_total:
        lines.append(f"| both single-task students | {single_total:.2f} ms |")
    print("\n".join(lines))
    (args.output_dir / f"{results_name}.md").write_text("\n".join(lines) + "\n")
    (args.output_dir / f"{results_name}.json").write_text(json.dumps(
        {"recipe": args.recipe, "overrides": args.overrides, "seeds": args.seeds, "minutes": minutes, "machine": machine, "rows": rows, "latency_ms": timings,
         "manifest": manifest}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
