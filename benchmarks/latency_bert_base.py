"""Reproduce the README's latency table: 30x students of both kinds against a bert-base teacher.

    python benchmarks/latency_bert_base.py [--run-dir benchmarks/results/compress_default/run]

1. Builds two student artifacts sized to 1/30 of bert-base's parameters (BiLSTM and tiny-Transformer),
   distilled for one epoch from the MiniLM teacher of `benchmarks/compress_default.py` (reused from its
   run directory). Latency depends on a model's shape, not on who taught it or how well. They keep the
   default max_length of 64 tokens: the BiLSTM reads any length, the Transformer's position table
   stops at 64, so its 128-token cells are skipped (and say so).
2. Runs `kdedge bench` on both against `bert-base-random`: bert-base's shape (12 layers, hidden 768)
   with random weights, in PyTorch fp32 and exported to ONNX fp32 (fused) and dynamic INT8, all in one
   run under the same settings, and writes the table, JSON and plot.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main() -> None:
    from transformers import BertConfig, BertForSequenceClassification

    from kdedge.bench.report import bench_markdown, bench_plot, bench_table
    from kdedge.bench.runner import RANDOM_BERT_BASE, BenchConfig, run_benchmark
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
    args = parser.parse_args()
    reporter = Reporter()

    bert_base = count_params(BertForSequenceClassification(BertConfig(num_labels=3)))
    budget = bert_base // 30
    reporter.step(f"bert-base has {bert_base:,} parameters; 30x students get {budget:,}")
    artifacts = []
    for kind in ("bilstm", "transformer"):
        recipe = load_recipe("sentiment-" + kind).with_overrides(
            [f"name=latency-{kind}-30x-bert-base", "student.target=null", f"student.max_params={budget}",
             "distill.epochs=1"])
        folder = args.output_dir / "latency" / f"{kind}-30x-bert-base"
        compress(recipe, folder, args.run_dir, reporter)
        artifacts.append(folder)

    config = BenchConfig(batch_sizes=tuple(int(b) for b in args.batch_sizes.split(",")),
                         seq_lens=tuple(int(s) for s in args.seq_lens.split(",")),
                         threads=(os.cpu_count() or 1,), max_seconds=args.max_seconds)
    result = run_benchmark(artifacts, RANDOM_BERT_BASE, config, reporter=reporter)
    command = "python benchmarks/latency_bert_base.py " + " ".join(sys.argv[1:])
    from rich.console import Console

    Console(width=160).print(bench_table(result))
    markdown = bench_markdown(result, command.strip())
    print(markdown)
    (args.output_dir / "latency_bert_base.md").write_text(markdown)
    (args.output_dir / "latency_bert_base.json").write_text(json.dumps({**result.to_dict(), "command": command},
                                                                       indent=2))
    bench_plot(result, args.output_dir / "latency_bert_base.png")


if __name__ == "__main__":
    main()
