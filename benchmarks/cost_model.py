"""Fit the committed cost model on this CPU: the estimates that choose default student shapes.

    python benchmarks/cost_model.py [--kinds bilstm,transformer] [--check 8]

For each student kind, times the probe shapes of `kdedge.export.shape_latency` and a denser set of
extra probes at the reference cell (batch 32 x 128 tokens, 2 threads, fp32 ONNX exported as `compress`
exports it), fits milliseconds on the cost features (least squares on relative error, coefficients
>= 0), then times `--check` shapes the fit never saw, drawn at random from the solver's own grids, and
records the fit's median and worst relative error on them. The fit replaces this CPU's entry in
`kdedge/students/cost_model.json` (other CPUs' entries stay: the estimate is their geometric mean),
and the table goes to `benchmarks/results/cost_model.md`. Run it on every CPU kind you can reach, one
job at a time on the machine (timings).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

EXTRA_BILSTM = ((48, 40), (64, 96), (192, 56), (256, 384), (96, 24), (300, 64), (32, 128), (128, 128))
EXTRA_TRANSFORMER = ((2, 128, 256), (1, 256, 512), (6, 192, 576), (3, 256, 512), (2, 384, 768), (4, 96, 384))


def main() -> None:
    from kdedge.bench.machine import fingerprint, machine_line
    from kdedge.export.shape_latency import (
        BILSTM_PROBES,
        TRANSFORMER_PROBES,
        ShapeLatency,
        _nonnegative_fit,
        machine_key,
    )
    from kdedge.hardware import cpu_description
    from kdedge.students.cost_model import COST_MODEL_FILE, REFERENCE, cost_features
    from kdedge.students.sizing import EMBEDDING_GRID, HIDDEN_GRID

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="bilstm,transformer")
    parser.add_argument("--check", type=int, default=8, help="held-out shapes timed per kind")
    parser.add_argument("--output", type=Path, default=COST_MODEL_FILE)
    parser.add_argument("--markdown", type=Path, default=Path("benchmarks/results/cost_model.md"))
    args = parser.parse_args()
    cpu, _ = cpu_description()
    started = time.perf_counter()
    table = json.loads(args.output.read_text()) if args.output.exists() else {"fits": []}
    rows = []
    for kind in args.kinds.split(","):
        timer = ShapeLatency(kind, REFERENCE["batch_size"], REFERENCE["seq_len"], REFERENCE["threads"],
                             folder=Path("/nonexistent"), machine=machine_key())
        if kind == "bilstm":
            probes = [{"embedding_dim": e, "hidden_size": h} for e, h in (*BILSTM_PROBES, *EXTRA_BILSTM)]
            rng = random.Random(0)
            held_out = [{"embedding_dim": rng.choice(EMBEDDING_GRID), "hidden_size": rng.choice(HIDDEN_GRID[:60])}
                        for _ in range(args.check)]
        else:
            probes = [{"layers": n, "hidden_size": w, "intermediate_size": f}
                      for n, w, f in (*TRANSFORMER_PROBES, *EXTRA_TRANSFORMER)]
            rng = random.Random(0)
            held_out = []
            for _ in range(args.check):
                width = 32 * rng.randint(2, 12)
                held_out.append({"layers": rng.randint(1, 6), "hidden_size": width,
                                 "intermediate_size": width * rng.randint(1, 4)})
        measured = []
        for shape in probes + held_out:
            measured.append(timer.measure(**shape))
            print(f"{kind} {shape}: {measured[-1]:.2f} ms", flush=True)
        fit_ms, check_ms = np.array(measured[: len(probes)]), np.array(measured[len(probes):])
        features = np.stack([cost_features(kind, shape, REFERENCE["seq_len"]) for shape in probes])
        coefficients = _nonnegative_fit(features / fit_ms[:, None], np.ones(len(fit_ms)))
        estimated = np.array([cost_features(kind, shape, REFERENCE["seq_len"]) @ coefficients for shape in held_out])
        errors = np.abs(estimated - check_ms) / check_ms
        entry = {"kind": kind, "cpu": cpu, "coefficients": coefficients.tolist(),
                 "median_error": float(np.median(errors)), "max_error": float(errors.max()),
                 "probes": len(probes), "checked": len(held_out), "machine": machine_line(fingerprint()),
                 "measured": [{"shape": shape, "ms": ms} for shape, ms in zip(probes + held_out, measured, strict=True)]}
        table["fits"] = [fit for fit in table["fits"] if (fit["kind"], fit["cpu"]) != (kind, cpu)] + [entry]
        rows += [(kind, shape, ms, float(cost_features(kind, shape, REFERENCE["seq_len"]) @ coefficients),
                  "held out" if index >= len(probes) else "fit")
                 for index, (shape, ms) in enumerate(zip(probes + held_out, measured, strict=True))]
        print(f"{kind} on {cpu}: median error {entry['median_error']:.1%}, worst {entry['max_error']:.1%} "
              f"on {len(held_out)} held-out shapes", flush=True)
    table["reference"] = REFERENCE
    args.output.write_text(json.dumps(table, indent=1) + "\n")
    minutes = (time.perf_counter() - started) / 60
    lines = [f"command: `python benchmarks/cost_model.py --kinds {args.kinds} --check {args.check}` "
             f"({minutes:.1f} min)", machine_line(fingerprint()), "",
             "Per-batch latency at 32 x 128 tokens, 2 threads, fp32 ONNX: measured, and estimated by this CPU's fit.",
             "", "| kind | shape | role | measured ms | estimated ms | error |", "|---|---|---|---:|---:|---:|"]
    lines += [f"| {kind} | {' '.join(f'{k}={v}' for k, v in shape.items())} | {role} | {ms:.2f} | {estimate:.2f} | "
              f"{(estimate - ms) / ms:+.0%} |" for kind, shape, ms, estimate, role in rows]
    lines += ["", "Fits recorded in kdedge/students/cost_model.json (an estimate is their geometric mean):", ""]
    lines += [f"- {fit['kind']} on {fit['cpu']}: median error {fit['median_error']:.1%}, worst "
              f"{fit['max_error']:.1%} over {fit['checked']} held-out shapes" for fit in table["fits"]]
    args.markdown.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
