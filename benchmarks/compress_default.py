"""Reproduce the README's headline table: the built-in default `kdedge compress`, from scratch.

    python benchmarks/compress_default.py [--recipe NAME] [--output-dir benchmarks/results]

Runs the default recipe in a fresh run directory (the teacher is fine-tuned, the transfer set
labelled and the student distilled from nothing), times it, and prints the Markdown table the README
carries with the command line and the machine fingerprint. Takes about 7 minutes on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from kdedge.bench.machine import fingerprint
from kdedge.report import batch_spread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--keep-run-dir", action="store_true", help="reuse stages from an earlier run")
    parser.add_argument("--recipe", default=None, help="a built-in recipe other than the default (e.g. ner-bilstm)")
    parser.add_argument("--latency", default=None, help="a latency budget (e.g. 12ms@32x128): the latency-chosen shape")
    parser.add_argument("--run-dir", type=Path, default=None, help="reuse this run folder (e.g. the default run's teacher)")
    args = parser.parse_args()
    name = (f"compress_{args.recipe}" if args.recipe else "compress_default") + ("_latency" if args.latency else "")
    work = args.output_dir / name
    if not args.keep_run_dir:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    run_dir = args.run_dir or work / "run"
    command = ["kdedge", "compress", *(["--recipe", args.recipe] if args.recipe else []),
               *(["--latency", args.latency] if args.latency else []),
               "--output", str(work / "artifact"), "--run-dir", str(run_dir)]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    minutes = (time.perf_counter() - started) / 60
    manifest = json.loads((work / "artifact" / "kdedge.json").read_text())
    machine = fingerprint()

    metrics, latency = manifest["metrics"], manifest["latency_ms_batch32"]
    teacher, student = metrics["teacher"], metrics["student_onnx"]
    main_metric = "entity_f1" if "entity_f1" in teacher else "accuracy"
    rows = [
        ("parameters", f"{manifest['teacher']['params']:,}", f"{manifest['student']['params']:,}"),
        ("compression", "1x", f"{manifest['compression']:.1f}x"),
        ("disk", f"{manifest['disk_bytes']['teacher_weights'] / 1e6:.1f} MB",
         f"{manifest['disk_bytes']['student_onnx'] / 1e6:.1f} MB"),
        *[(f"test {key.replace('_', ' ')}", f"{teacher[key]:.4f}", f"{student[key]:.4f}") for key in teacher],
        (f"{main_metric.replace('_', ' ')} kept", "100%", f"{student[main_metric] / teacher[main_metric]:.1%}"),
        (f"CPU latency, batch {latency['batch_size']} x {latency['seq_len']} tokens",
         f"{latency['teacher_torch_fp32']:.1f} ms", f"{latency['student_onnx']:.2f} ms "
         f"({latency['teacher_torch_fp32'] / latency['student_onnx']:.0f}x faster)"),
    ]
    lines = [
        f"command: `{' '.join(command)}` (recipe {manifest['recipe']['name']}; {minutes:.1f} min end to end"
        + (", every stage kept in the run folder reused: the fine-tuned teacher, its outputs and any distillation "
           "stage whose inputs did not change; the export and the choice of variant re-run)"
           if args.keep_run_dir or args.run_dir else ")"),
        f"machine: {machine['cpu']}, {machine['cores']} cores, ISA {', '.join(machine['isa']) or 'n/a'}, "
        f"torch {machine['torch']}, onnxruntime {machine['onnxruntime']}",
        "",
        f"| | teacher: MiniLM-L6, PyTorch fp32 | student: {manifest['student']['kind']}, ONNX {manifest['variant']} "
        "(shipped) |",
        "|---|---:|---:|",
        *[f"| {name} | {a} | {b} |" for name, a, b in rows],
    ]
    lines += ["", "Variants built, measured and chosen by `compress` on the dev split (the test split is read once, "
              "for the shipped model above; latency: one batch of 32):", "",
              f"| variant | size | dev {main_metric.replace('_', ' ')} | agrees with fp32 | latency "
              "| score moves across batches | shipped | note |",
              "|---|---:|---:|---:|---:|---:|---|---|"]
    for row in manifest["variants"]:
        accuracy = "—" if row["score"] is None else f"{row['score']:.4f}"
        agreement = "—" if row["agreement_with_fp32"] is None else f"{row['agreement_with_fp32']:.2%}"
        latency_ms = "—" if row["latency_ms"] is None else f"{row['latency_ms']:.2f} ms"
        lines.append(f"| {row['variant']} | {row['file_bytes'] / 1e6:.2f} MB | {accuracy} | {agreement} | {latency_ms} | "
                     f"{batch_spread(row)} | {'yes' if row['chosen'] else ''} | {row['note']} |")
    print("\n".join(lines))
    (args.output_dir / f"{name}.md").write_text("\n".join(lines) + "\n")
    (args.output_dir / f"{name}.json").write_text(json.dumps(
        {"command": command, "minutes": minutes, "machine": machine, "manifest": manifest}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
