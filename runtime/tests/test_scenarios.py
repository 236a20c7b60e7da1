"""MLPerf scenarios' arithmetic on a fake clock: percentiles, single-stream, a server rate's latencies and
early stop, and the rate search. Every expected value is worked out by hand in the comments."""

import random

import pytest

from kdedge_runtime.bench.scenarios import (
    RateRun,
    ScenarioConfig,
    find_peak_rate,
    offline,
    percentile,
    poisson_arrivals,
    run_rate,
    single_stream,
)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_nearest_rank_percentiles():
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0.90) == 90.0  # ceil(0.9 * 100) = 90th smallest
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.50) == 50.0
    assert percentile([5.0, 1.0, 3.0], 0.90) == 5.0  # ceil(2.7) = 3rd smallest
    assert percentile([5.0, 1.0, 3.0, 4.0], 0.50) == 3.0  # ceil(2) = 2nd smallest of 1, 3, 4, 5
    assert percentile([7.0], 0.99) == 7.0


def test_single_stream_reports_the_90th_percentile_of_query_latencies():
    clock = FakeClock()
    # query i takes (i % 10 + 1) ms: over 100 queries, ten of each of 1..10 ms
    durations = iter([(i % 10 + 1) / 1000 for i in range(1000)])
    config = ScenarioConfig(min_queries=100, min_seconds=0.0, max_seconds=100.0)
    result = single_stream(lambda text: clock.sleep(next(durations)), ["a", "b"], config, clock=clock)
    assert result["queries"] == 100
    assert result["p90_ms"] == pytest.approx(9.0)  # the 90th smallest of ten 1s, ten 2s, ... ten 10s
    assert result["p50_ms"] == pytest.approx(5.0) and result["p99_ms"] == pytest.approx(10.0)
    assert result["queries_per_second"] == pytest.approx(100 / 0.55)  # 10 * (1 + ... + 10) ms = 0.55 s


def test_offline_counts_texts_per_second_over_whole_passes():
    clock = FakeClock()
    batches = []

    def run(batch):
        batches.append(len(batch))
        clock.sleep(0.01 * len(batch))  # 10 ms a text

    config = ScenarioConfig(offline_batch_size=4, min_seconds=0.0)
    result = offline(run, [f"t{i}" for i in range(10)], config, clock=clock)
    assert batches == [4, 4, 2] and result["samples"] == 10 and result["passes"] == 1
    assert result["samples_per_second"] == pytest.approx(100.0)


def queue_submitter(clock: FakeClock, service_seconds: float):
    """One server that answers queries in arrival order, each taking `service_seconds`: query i finishes at
    max(its arrival, the previous finish) + service. The fake clock stands still while it works."""
    free_at = [0.0]

    def submit(index, completions):
        finish = max(clock.now, free_at[0]) + service_seconds
        free_at[0] = finish
        completions.done(index, when=finish)

    return submit


def test_a_rate_the_server_keeps_up_with_holds_and_its_latency_is_the_service_time():
    clock = FakeClock()
    arrivals = [0.02 * i for i in range(100)]  # every 20 ms; each query takes 10 ms: no queueing
    run = run_rate(queue_submitter(clock, 0.010), arrivals, bound_ms=15, clock=clock, sleep=clock.sleep, rate=50)
    assert run.passed and not run.early_stopped and run.answered == 100 and run.late == 0
    assert run.p99_ms == pytest.approx(10.0)


def test_queueing_counts_from_the_scheduled_arrival():
    clock = FakeClock()
    # two queries at once, 10 ms each: the second waits for the first, so its latency is 20 ms
    arrivals = [0.0, 0.0] + [1.0 + 0.1 * i for i in range(98)]
    run = run_rate(queue_submitter(clock, 0.010), arrivals, bound_ms=15, q=0.99, clock=clock, sleep=clock.sleep)
    # 1 late query of 100 is what p99 allows (floor(0.01 * 100) = 1), and the p99 is the 99th smallest: 10 ms
    assert run.late == 1 and run.passed and run.p99_ms == pytest.approx(10.0)
    run = run_rate(queue_submitter(clock, 0.010), arrivals, bound_ms=15, q=0.995, clock=clock, sleep=clock.sleep)
    # p99.5 allows floor(0.005 * 100) = 0 late queries: the queued one stops the run at once
    assert not run.passed and run.early_stopped and run.answered == 2 and run.late == 1


def test_an_overloaded_rate_stops_early_once_too_many_are_late():
    clock = FakeClock()
    # a query every 5 ms that takes 10 ms: query i finishes at 10 ms * (i + 1), so its latency is 10 + 5 i ms,
    # past a 30 ms bound from i = 5 on. 1,000 queries allow floor(0.01 * 1000) = 10 late ones: the 11th late
    # query is i = 15, so issuing stops after 16 queries instead of 1,000
    arrivals = [0.005 * i for i in range(1000)]
    run = run_rate(queue_submitter(clock, 0.010), arrivals, bound_ms=30, clock=clock, sleep=clock.sleep)
    assert run.early_stopped and not run.passed
    assert run.answered == 16 and run.late == 11 and run.queries == 1000


def test_poisson_arrivals_come_at_the_rate_asked():
    arrivals = poisson_arrivals(200.0, 50.0, random.Random(1))
    assert arrivals == sorted(arrivals) and all(0 < t < 50 for t in arrivals)
    assert len(arrivals) / 50.0 == pytest.approx(200.0, rel=0.05)  # 10,000 expected, sd 100


def test_the_rate_search_doubles_then_bisects_to_the_highest_rate_that_holds():
    tried = []

    def run_at(rate):
        tried.append(rate)
        return RateRun(rate, 1, 1, 1.0, 0, False, passed=rate <= 137)

    config = ScenarioConfig(server_start_rate=10, server_max_rate=10_000, server_search_steps=4)
    peak, runs = find_peak_rate(run_at, config)
    # 10, 20, 40, 80 hold, 160 fails; then 120 holds, 140 fails, 130 holds, 135 holds
    assert tried == [10, 20, 40, 80, 160, 120, 140, 130, 135]
    assert peak == 135 and len(runs) == 9


def test_the_rate_search_with_no_rate_that_holds_or_no_ceiling():
    config = ScenarioConfig(server_start_rate=10, server_max_rate=100, server_search_steps=3)
    peak, runs = find_peak_rate(lambda rate: RateRun(rate, 1, 1, 99.0, 1, False, passed=False), config)
    assert peak is None and [run.rate for run in runs] == [10]
    peak, runs = find_peak_rate(lambda rate: RateRun(rate, 1, 1, 1.0, 0, False, passed=True), config)
    assert peak == 80 and [run.rate for run in runs] == [10, 20, 40, 80]  # capped by server_max_rate


def test_a_failed_query_counts_as_late():
    def failing_at_3(clock):
        serve = queue_submitter(clock, 0.010)

        def submit(index, completions):
            if index == 3:
                completions.done(index, failed=True)  # e.g. the server answered 503
            else:
                serve(index, completions)

        return submit

    arrivals = [0.02 * i for i in range(100)]  # otherwise every query holds, as above
    clock = FakeClock()
    run = run_rate(failing_at_3(clock), arrivals, bound_ms=15, clock=clock, sleep=clock.sleep)
    assert run.failed == 1 and run.late == 1 and run.passed  # one of 100 is what p99 allows
    clock = FakeClock()
    run = run_rate(failing_at_3(clock), arrivals, bound_ms=15, q=0.999, clock=clock, sleep=clock.sleep)
    assert run.early_stopped and not run.passed and run.answered == 4  # p99.9 of 100 allows none
