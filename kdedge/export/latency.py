"""A quick side-by-side CPU latency check for the closing report (`kdedge bench` is the full benchmark)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def median_ms(run: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def torch_runner(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor):
    def run():
        with torch.inference_mode():
            model(input_ids=input_ids, attention_mask=attention_mask)

    return run
