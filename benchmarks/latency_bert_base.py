"""Reproduce the README's latency table: 30x students of both kinds against a bert-base teacher.

    python benchmarks/latency_bert_base.py [--run-dir benchmarks/results/compress_default/run]
        [--bilstm-latency 12ms@32x128] [--transformer-latency 40ms@32x128]

1. Builds student artifacts sized to 1/30 of bert-base's parameters, of both kinds (BiLSTM and
   tiny-Transformer), each three times: with the default shape (no flag: the cheapest of the best
   expected quality by the committed cost model, kdedge.students.cost_model), with the best shape whose
   estimated latency on this machine meets a budget (`--latency`, kdedge.export.shape_latency), and with
   the parameter-only shape (`student.shape_by=parameters`, the default before the cost model). All are
   distilled for one epoch from the MiniLM teacher of `benchmarks/compress_default.py` (reused from its
   run directory), so their test accuracies compare shapes under the same short training. Latency
   depends on a model's shape, not on who taught it or how well. Transformer students keep 128
   position rows (the default), so every student runs every cell.
2. Runs `kdedge bench` on all of them against `bert-base-random`: bert-base's shape (12 layers, hidden
   768) with random weights, in PyTorch fp32 and exported to ONNX fp32 (fused) and dynamic INT8, all in
   one run under the same settings, and writes the table, JSON and plot, with the accuracy table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path


def main() -> None:
    from transformers import BertConfig, BertForSequenceClassification

    from kdedge.bench.report import bench_markdown, bench_plot, bench_table
    from kdedge.bench.runner import RANDOM_BERT_BASE, BenchConfig, run_benchmark
    from kdedge.errors import ConfigError
    from kdedge.pipeline.compress import compress
    from kdedge.progress import Reporter
    from kdedge.recipe import load_recipe
    from kdedge.teacher.loading import count_params

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=Path("benchmarks/results/compress_default/run"))
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--batch-sizes", default="1,8,32,128")
    parser.add_argument("--seq-lens", default="32,64,128")
    parser.add_argument("--max-seconds", type=float, default=8.0)
    parser.add_argument("--bilstm-latency", default="12ms@32x128")
    parser.add_argument("--transformer-latency", default="40ms@32x128")
    args = parser.parse_args()
    reporter = Reporter()

    bert_base = count_params(BertForSequenceClassification(BertConfig(num_labels=3)))
    budget = bert_base // 30
    reporter.step(f"bert-base has {bert_base:,} parameters; 30x students get {budget:,}")
    artifacts, accuracy = [], []
    for kind in ("bilstm", "transformer"):
        for chosen, latency in (("default", None), ("latency", getattr(args, f"{kind}_latency")),
                                ("parameters", None)):
            name = f"{kind}-30x-bert-base" + ("" if chosen == "default" else f"-{chosen}")
            overrides = [f"name={name}", "student.target=null", f"student.max_params={budget}", "distill.epochs=1",
                         f"student.shape_by={'parameters' if chosen == 'parameters' else 'cost'}"]
            recipe = load_recipe("sentiment-" + kind).with_overrides(overrides)
            if latency:
                recipe = recipe.with_values({"student.latency": latency})
            folder = args.output_dir / "latency" / name
            try:
                result = compress(recipe, folder, args.run_dir, reporter)
            except ConfigError as error:  # a budget this machine cannot reach: take the fastest reachable + 25%
                fastest = re.search(r"fastest reachable is ([\d.]+) ms", str(error))
                if not latency or fastest is None:
                    raise
                latency = f"{float(fastest[1]) * 1.25:.1f}ms@{latency.split('@')[1]}"
                reporter.note(f"{error}; retrying with --latency {latency}")
                recipe = recipe.with_values({"student.latency": latency})
                result = compress(recipe, folder, args.run_dir, reporter)
            manifest = result.manifest
            accuracy.append((name, kind, chosen, latency or "", manifest["training"]["shape"],
                             manifest["student"]["params"], manifest["metrics"]["student_onnx"]["accuracy"],
                             manifest["variant"]))
            artifacts.append(folder)

    config = BenchConfig(batch_sizes=tuple(int(b) for b in args.batch_sizes.split(",")),
                         seq_lens=tuple(int(s) for s in args.seq_lens.split(",")),
                         threads=(os.cpu_count() or 1,), max_seconds=args.max_seconds)
    result = run_benchmark(artifacts, RANDOM_BERT_BASE, config, reporter=reporter)
    command = "python benchmarks/latency_bert_base.py " + " ".join(sys.argv[1:])
    from rich.console import Console

    Console(width=160).print(bench_table(result))
    markdown = bench_markdown(result, command.strip())
    markdown += ("\nStudents (1/30 of bert-base's parameters, one distillation epoch each, test accuracy on the "
                 "default tweets, shipped variant):\n\n| student | shape chosen by | budget | shape | parameters | "
                 "test accuracy |\n|---|---|---|---|---:|---:|\n")
    markdown += "".join(f"| {name} | {chosen} | {latency} | {shape.split(';')[0]}; {shape.split(';')[1].strip()} | "
                        f"{params:,} | {score:.4f} ({variant}) |\n"
                        for name, kind, chosen, latency, shape, params, score, variant in accuracy)
    print(markdown)
    (args.output_dir / "latency_bert_base.md").write_text(markdown)
    (args.output_dir / "latency_bert_base.json").write_text(json.dumps({**result.to_dict(), "command": command},
                                                                       indent=2))
    bench_plot(result, args.output_dir / "latency_bert_base.png")


if __name__ == "__main__":
    main()
