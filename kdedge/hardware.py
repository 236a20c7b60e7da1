"""What CPU this is: its name and the ISA features that decide INT8 speed (used by every stage that
measures latency, and by the benchmark's fingerprint)."""

from __future__ import annotations

import platform

INT8_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8")


def cpu_description() -> tuple[str, list[str]]:
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as handle:
            lines = handle.read().splitlines()
        name = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("model name")), name)
        flags = set(next((l for l in lines if l.startswith("flags")), "").split())
    except OSError:
        pass
    return name, [feature for feature in INT8_FEATURES if feature in flags]
