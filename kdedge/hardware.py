"""What CPU this is: its name and the ISA features that decide INT8 speed (used by every stage that
measures latency, and by the benchmark's fingerprint)."""

from kdedge_runtime.bench.machine import INT8_FEATURES, cpu_description  # noqa: F401  (one copy, in the runtime)
