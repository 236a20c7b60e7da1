"""MLPerf Inference's scenarios, over real texts end to end (texts in, labels out), for an artifact:

- **single-stream**: one text per query, the next sent when the last is answered; the metric is the
  90th-percentile latency (MLPerf's), with p50 and p99 beside it;
- **offline**: every text at once, in batches; the metric is texts per second;
- **server**: queries (one text each) arrive as a Poisson process at a fixed rate; the metric is the
  highest rate whose 99th-percentile latency, counted from each query's scheduled arrival (so queueing
  counts), stays under a stated bound. Rates double from a start until one fails, then a bisection
  between the last rate that held and the first that did not narrows it down. A run stops early once
  more queries are late than the percentile allows (its p99 can no longer be under the bound).

Percentiles are nearest-rank: the p-th percentile of n latencies is the ceil(p * n)-th smallest.

The query scheduling is ours, not MLPerf LoadGen's (`mlcommons-loadgen`): LoadGen's clock lives in its
C++ core, so its arithmetic cannot be tested on a fake clock as this module's is (tests/test_scenarios),
its valid runs last ten minutes per rate by MLPerf's rules, far past a quick check on a target, and
it would add a compiled dependency to a runtime meant for small machines. The vocabulary and the
metrics are MLPerf's.
"""

from __future__ import annotations

import math
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

SINGLE_STREAM, OFFLINE, SERVER = "single-stream", "offline", "server"
SCENARIOS = (SINGLE_STREAM, OFFLINE, SERVER)


@dataclass(frozen=True)
class ScenarioConfig:
    min_queries: int = 256  # single-stream: at least this many queries ...
    min_seconds: float = 3.0  # ... and this long (offline: passes over the texts until this long)
    max_seconds: float = 20.0
    offline_batch_size: int = 32
    server_bound_ms: float = 50.0  # the p99 latency a server rate must hold
    server_percentile: float = 0.99
    server_seconds: float = 5.0  # of arrivals per tried rate
    server_start_rate: float = 8.0  # queries per second
    server_max_rate: float = 20_000.0
    server_search_steps: int = 4  # bisections after the doubling
    server_concurrency: int = 64  # queries in progress at once (in-process threads or HTTP connections)
    seed: int = 0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the ceil(q * n)-th smallest of `values` (q in (0, 1])."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def single_stream(query: Callable[[str], object], texts: Sequence[str], config: ScenarioConfig,
                  clock: Callable[[], float] = time.perf_counter) -> dict:
    """One text per query, one query at a time, until min_queries and min_seconds (or max_seconds)."""
    latencies: list[float] = []
    started = clock()
    while True:
        elapsed = clock() - started
        if elapsed >= config.max_seconds or (len(latencies) >= config.min_queries and elapsed >= config.min_seconds):
            break
        text = texts[len(latencies) % len(texts)]
        begin = clock()
        query(text)
        latencies.append((clock() - begin) * 1000)
    seconds = clock() - started
    return {"scenario": SINGLE_STREAM, "queries": len(latencies), "seconds": seconds,
            "p50_ms": percentile(latencies, 0.50), "p90_ms": percentile(latencies, 0.90),
            "p99_ms": percentile(latencies, 0.99), "queries_per_second": len(latencies) / seconds if seconds else 0.0}


def offline(query_batch: Callable[[list[str]], object], texts: Sequence[str], config: ScenarioConfig,
            clock: Callable[[], float] = time.perf_counter) -> dict:
    """Every text at once, in batches of offline_batch_size: whole passes until min_seconds (or max_seconds)."""
    done, passes = 0, 0
    started = clock()
    while passes == 0 or (clock() - started < config.min_seconds and clock() - started < config.max_seconds):
        for start in range(0, len(texts), config.offline_batch_size):
            batch = list(texts[start : start + config.offline_batch_size])
            query_batch(batch)
            done += len(batch)
        passes += 1
    seconds = clock() - started
    return {"scenario": OFFLINE, "samples": done, "passes": passes, "seconds": seconds,
            "batch_size": config.offline_batch_size, "samples_per_second": done / seconds if seconds else 0.0}


def poisson_arrivals(rate: float, seconds: float, rng: random.Random) -> list[float]:
    """Arrival times (seconds from the start) of a Poisson process of `rate` per second, up to `seconds`."""
    times, now = [], 0.0
    while True:
        now += rng.expovariate(rate)
        if now >= seconds:
            return times
        times.append(now)


@dataclass
class RateRun:
    rate: float
    queries: int  # scheduled
    answered: int
    p99_ms: float
    late: int
    early_stopped: bool
    passed: bool
    failed: int = 0  # queries that got no answer (an error, a refusal): each counts as late


class Completions:
    """When each query finished, written by whichever thread answered it, and how many were answered
    after their due time (`due(index)`: scheduled arrival plus the bound)."""

    def __init__(self, clock: Callable[[], float], due: Callable[[int], float]):
        self._clock, self._due, self._lock = clock, due, threading.Lock()
        self.times: dict[int, float] = {}
        self.late_answered = 0
        self.failed = 0
        self.all_done = threading.Condition(self._lock)

    def done(self, index: int, when: float | None = None, failed: bool = False) -> None:
        """Query `index` was answered (at `when`, default now); a failed query counts as late."""
        with self._lock:
            finished = self._clock() if when is None else when
            self.times[index] = finished
            self.late_answered += failed or finished > self._due(index)
            self.failed += failed
            self.all_done.notify_all()


def run_rate(submit: Callable[[int, Completions], None], arrivals: Sequence[float], bound_ms: float,
             q: float = 0.99, clock: Callable[[], float] = time.perf_counter,
             sleep: Callable[[float], None] = time.sleep, drain_seconds: float = 30.0, rate: float = 0.0) -> RateRun:
    """Issue query i at `arrivals[i]` through `submit(i, completions)` (which calls `completions.done(i)`
    when it is answered); latency runs from the scheduled arrival. Stops issuing once more queries are
    late (past `bound_ms`, answered or still waiting) than the percentile `q` allows."""
    bound = bound_ms / 1000
    allowed = math.floor((1 - q) * len(arrivals))
    start = clock()
    completions = Completions(clock, lambda index: start + arrivals[index] + bound)
    issued, early, oldest = 0, False, 0
    for index, at in enumerate(arrivals):
        wait = start + at - clock()
        if wait > 0:
            sleep(wait)
        submit(index, completions)
        issued += 1
        while oldest < issued and oldest in completions.times:  # the oldest query still waiting
            oldest += 1
        if completions.late_answered + _overdue(completions, arrivals, oldest, issued, start, bound, clock()) > allowed:
            early = True
            break
    deadline = clock() + drain_seconds
    with completions.all_done:
        while len(completions.times) < issued and clock() < deadline:
            completions.all_done.wait(timeout=0.05)
    latencies = [(completions.times[i] - (start + arrivals[i])) * 1000 for i in range(issued) if i in completions.times]
    late = completions.late_answered + _overdue(completions, arrivals, 0, issued, start, bound, clock())
    p99 = percentile(latencies, q) if not early else float("nan")
    passed = not early and len(latencies) == len(arrivals) and late <= allowed and p99 <= bound_ms
    return RateRun(rate, len(arrivals), len(latencies), p99, late, early, passed, completions.failed)


def _overdue(completions: Completions, arrivals: Sequence[float], first: int, issued: int, start: float,
             bound: float, now: float) -> int:
    """Queries from `first` on, not answered yet, whose due time has passed (arrivals are in order, so the
    scan stops at the first query not yet due)."""
    overdue = 0
    for index in range(first, issued):
        if start + arrivals[index] + bound >= now:
            break
        overdue += index not in completions.times
    return overdue


def find_peak_rate(run_at: Callable[[float], RateRun], config: ScenarioConfig) -> tuple[float | None, list[RateRun]]:
    """The highest rate that holds: doubling from server_start_rate until a rate fails (or server_max_rate),
    then server_search_steps bisections between the last rate that held and the first that failed."""
    runs, held, failed, rate = [], None, None, config.server_start_rate
    while rate <= config.server_max_rate:
        run = run_at(rate)
        runs.append(run)
        if not run.passed:
            failed = rate
            break
        held, rate = rate, rate * 2
    if held is None or failed is None:
        return held, runs
    for _ in range(config.server_search_steps):
        middle = (held + failed) / 2
        run = run_at(middle)
        runs.append(run)
        held, failed = (middle, failed) if run.passed else (held, middle)
    return held, runs


class ThreadedSubmitter:
    """`submit` for run_rate: `concurrency` threads take queries in arrival order and call `answer(text)`
    (a Predictor call, or an HTTP request on the thread's own connection made by `connect`)."""

    def __init__(self, texts: Sequence[str], concurrency: int, connect: Callable[[], Callable[[str], object]]):
        self._texts, self._queue = texts, queue.Queue()
        self._threads = [threading.Thread(target=self._work, args=(connect,), daemon=True) for _ in range(concurrency)]
        for thread in self._threads:
            thread.start()

    def _work(self, connect) -> None:
        answer = connect()
        while True:
            item = self._queue.get()
            if item is None:
                return
            index, completions = item
            try:
                answer(self._texts[index % len(self._texts)])
            except Exception:  # a refused or failed query counts against the rate, and the thread goes on
                completions.done(index, failed=True)
            else:
                completions.done(index)

    def __call__(self, index: int, completions: Completions) -> None:
        self._queue.put((index, completions))

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)


def server(connect: Callable[[], Callable[[str], object]], texts: Sequence[str], config: ScenarioConfig) -> dict:
    """The server scenario: the peak Poisson rate whose p99 stays under server_bound_ms."""
    submitter = ThreadedSubmitter(texts, config.server_concurrency, connect)
    rng = random.Random(config.seed)
    try:
        def run_at(rate: float) -> RateRun:
            arrivals = poisson_arrivals(rate, config.server_seconds, rng)
            return run_rate(submitter, arrivals, config.server_bound_ms, config.server_percentile, rate=rate)

        peak, runs = find_peak_rate(run_at, config)
    finally:
        submitter.close()
    return {"scenario": SERVER, "bound_ms": config.server_bound_ms, "percentile": config.server_percentile,
            "peak_queries_per_second": peak, "runs": [asdict(run) for run in runs]}


def http_connector(url: str, timeout: float = 30.0) -> Callable[[], Callable[[str], object]]:
    """`connect` for a running `kdedge-runtime serve` at `url`: each thread its own keep-alive connection,
    one text per `POST /predict`."""
    import http.client
    import json
    from urllib.parse import urlparse

    address = urlparse(url)

    def connect():
        connection = http.client.HTTPConnection(address.hostname, address.port or 80, timeout=timeout)

        def answer(text: str):
            nonlocal connection
            for attempt in range(2):  # once more on a fresh connection: the server closes idle keep-alives
                try:
                    connection.request("POST", "/predict", json.dumps({"texts": [text]}),
                                       {"Content-Type": "application/json"})
                    response = connection.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    connection.close()
                    connection = http.client.HTTPConnection(address.hostname, address.port or 80, timeout=timeout)
                    if attempt:
                        raise
                    continue
                if response.status != 200:
                    raise RuntimeError(f"the server answered {response.status}")
                return

        return answer

    return connect


def run_scenarios(predictor, texts: Sequence[str], which: Sequence[str], config: ScenarioConfig,
                  url: str | None = None, name: str = "", progress=None) -> list[dict]:
    """The scenarios in `which` for one artifact's `predictor` (the server scenario against `url` when
    given, else in process), each a dict of its metrics."""
    results = []
    for scenario in which:
        if progress is not None:
            progress(f"{name}: {scenario} ...")
        if scenario == SINGLE_STREAM:
            found = single_stream(lambda text: predictor.predict([text]), texts, config)
        elif scenario == OFFLINE:
            found = offline(lambda batch: predictor.predict(batch, config.offline_batch_size), texts, config)
        elif scenario == SERVER:
            connect = http_connector(url) if url else (lambda: (lambda text: predictor.predict([text])))
            found = server(connect, texts, config)
            found["target"] = url or "in-process"
        else:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        results.append({"model": name, **found})
    return results


def _rates_tried(result: dict) -> str:
    return ", ".join(f"{run['rate']:.0f}: " + ("stopped early" if run["early_stopped"] else f"{run['p99_ms']:.1f}")
                     for run in result["runs"])


def _peak(result: dict) -> str:
    peak = result["peak_queries_per_second"]
    return "none held" if peak is None else f"{peak:,.0f}"


# per scenario: its title, columns (name, right-aligned) and how a result fills them
TABLES = {
    SINGLE_STREAM: ("single-stream (one text per query, end to end):",
                    [("model", False), ("queries", True), ("p50 ms", True), ("p90 ms (metric)", True),
                     ("p99 ms", True), ("queries/s", True)],
                    lambda r: [r["model"], f"{r['queries']:,}", f"{r['p50_ms']:.2f}", f"{r['p90_ms']:.2f}",
                               f"{r['p99_ms']:.2f}", f"{r['queries_per_second']:,.0f}"]),
    OFFLINE: ("offline (every text at once, end to end):",
              [("model", False), ("texts", True), ("batch", True), ("seconds", True), ("texts/s (metric)", True)],
              lambda r: [r["model"], f"{r['samples']:,}", str(r["batch_size"]), f"{r['seconds']:.1f}",
                         f"{r['samples_per_second']:,.0f}"]),
    SERVER: ("server (Poisson arrivals, one text per query; latency from the scheduled arrival):",
             [("model", False), ("target", False), ("p99 bound ms", True), ("peak queries/s (metric)", True),
              ("rates tried (queries/s: p99 ms)", False)],
             lambda r: [r["model"], r["target"], f"{r['bound_ms']:.0f}", _peak(r), _rates_tried(r)]),
}


def scenarios_markdown(results: list[dict]) -> list[str]:
    """The scenarios' metrics as Markdown tables, one per scenario."""
    lines: list[str] = []
    for scenario, (title, columns, cells) in TABLES.items():
        rows = [r for r in results if r["scenario"] == scenario]
        if rows:
            lines += [title, "", "| " + " | ".join(name for name, _ in columns) + " |",
                      "|" + "".join("---:|" if right else "---|" for _, right in columns)]
            lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
            lines.append("")
    return lines
