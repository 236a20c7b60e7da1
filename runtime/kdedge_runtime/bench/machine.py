"""The hardware fingerprint every benchmark result carries, so numbers are read against their machine
(torch-free: `kdedge bench` adds torch's version and its matmul peak)."""

from __future__ import annotations

import os
import platform

INT8_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8")


def cpu_description() -> tuple[str, list[str]]:
    """The CPU's model name and the ISA features that decide INT8 speed."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as handle:
            lines = handle.read().splitlines()
        name = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("model name")), name)
        flags = set(next((l for l in lines if l.startswith("flags")), "").split())
    except OSError:
        pass
    return name, [feature for feature in INT8_FEATURES if feature in flags]


def fingerprint() -> dict:
    """This machine as the runtime sees it."""
    import numpy
    import onnxruntime

    from kdedge_runtime import __version__

    cpu, features = cpu_description()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "isa": features,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnxruntime_providers": onnxruntime.get_available_providers(),
        "kdedge_runtime": __version__,
    }


def machine_name(machine: dict) -> str:
    """A short name for a machine in a comparison: its CPU, cores and onnxruntime."""
    return f"{machine['cpu']} · {machine['cores']} cores · onnxruntime {machine['onnxruntime']}"
