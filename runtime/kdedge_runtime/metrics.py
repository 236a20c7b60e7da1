"""The server's Prometheus metrics, in the text exposition format (no client library needed).

One `ServerMetrics` per app: requests by route and status, a request-latency histogram, a histogram of
texts per request, texts in flight, and the loaded model's identity as an info gauge.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # seconds
TEXT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, not cumulative; the last is +Inf
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str) -> list[str]:
        out, cumulative = [], 0
        for bound, count in zip((*self.buckets, float("inf")), self.counts, strict=True):
            cumulative += count
            out.append(f'{name}_bucket{{le="{"+Inf" if bound == float("inf") else _number(bound)}"}} {cumulative}')
        return [*out, f"{name}_sum {_number(self.total)}", f"{name}_count {self.count}"]


class ServerMetrics:
    """Counters and histograms of one server; `record` may be called from any thread."""

    def __init__(self, model: dict[str, str]):
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, int]] = Counter()
        self._latency = Histogram(LATENCY_BUCKETS)
        self._texts = Histogram(TEXT_BUCKETS)
        self._texts_total = 0
        self.model = model
        self.in_flight = 0  # texts accepted and not yet answered (kept by the app)

    def record(self, route: str, status: int, seconds: float, texts: int = 0) -> None:
        with self._lock:
            self._requests[(route, status)] += 1
            if route in ("/predict", "/v2/models/{name}/infer"):
                self._latency.observe(seconds)
                if status == 200:
                    self._texts.observe(texts)
                    self._texts_total += texts

    def render(self) -> str:
        with self._lock:
            labels = ",".join(f'{key}="{_escaped(value)}"' for key, value in sorted(self.model.items()))
            lines = [
                "# HELP kdedge_model_info The artifact this server loaded.", "# TYPE kdedge_model_info gauge",
                f"kdedge_model_info{{{labels}}} 1",
                "# HELP kdedge_requests_total HTTP requests answered, by route and status.",
                "# TYPE kdedge_requests_total counter",
                *[f'kdedge_requests_total{{route="{_escaped(route)}",status="{status}"}} {count}'
                  for (route, status), count in sorted(self._requests.items())],
                "# HELP kdedge_request_seconds Time to answer an inference request (/predict, V2 infer), every status.",
                "# TYPE kdedge_request_seconds histogram", *self._latency.lines("kdedge_request_seconds"),
                "# HELP kdedge_texts_per_request Texts in each answered inference request.",
                "# TYPE kdedge_texts_per_request histogram", *self._texts.lines("kdedge_texts_per_request"),
                "# HELP kdedge_texts_total Texts predicted.", "# TYPE kdedge_texts_total counter",
                f"kdedge_texts_total {self._texts_total}",
                "# HELP kdedge_texts_in_flight Texts accepted and not yet answered.",
                "# TYPE kdedge_texts_in_flight gauge", f"kdedge_texts_in_flight {self.in_flight}",
            ]
        return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def _escaped(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
