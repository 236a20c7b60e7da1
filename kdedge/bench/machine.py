"""The hardware fingerprint every benchmark result carries, so numbers are read against their machine."""

from __future__ import annotations

import os
import time

from kdedge.hardware import INT8_FEATURES, cpu_description  # noqa: F401  (re-exported)


def matmul_peak_gflops(threads: int, size: int = 2048, seconds: float = 1.5) -> float:
    """Best measured fp32 GEMM rate of this machine with torch at `threads` threads (the fair ceiling).

    Large square products after a warm-up, best of several timed products: a model's achieved rate
    should stay below it.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(size, size), torch.randn(size, size)
        for _ in range(3):
            torch.mm(a, b)
        best, start = 0.0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            begin = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * size**3 / (time.perf_counter() - begin) / 1e9)
        return best
    finally:
        torch.set_num_threads(previous)


def cpu_summary() -> dict:
    """What an artifact records of the machine its latencies were measured on (no torch import)."""
    import onnxruntime

    cpu, features = cpu_description()
    return {"cpu": cpu, "cores": os.cpu_count(), "isa": features, "onnxruntime": onnxruntime.__version__}


def fingerprint() -> dict:
    """The runtime's fingerprint (`kdedge_runtime.bench.machine`) with torch's version, threads and GPU."""
    import torch

    from kdedge_runtime.bench.machine import fingerprint as runtime_fingerprint

    return {**runtime_fingerprint(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def machine_line(machine: dict) -> str:
    """The line a benchmark table names its machine with, from `fingerprint()`."""
    return (f"machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}, "
            f"onnxruntime {machine['onnxruntime']}")
