"""Dynamic batching and the bounded inference executor, on a fake model (no artifact, no server)."""

import asyncio
import threading
import time

import pytest

from kdedge_runtime.batching import DynamicBatcher, InferenceExecutor, inference_workers


class RecordingModel:
    """A model that answers each text with its upper-case form and records every call's texts and how
    many calls ran at once."""

    def __init__(self, seconds: float = 0.02):
        self.calls, self.seconds, self.running, self.most = [], seconds, 0, 0
        self._lock = threading.Lock()

    def __call__(self, texts):
        with self._lock:
            self.calls.append(list(texts))
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        if "boom" in texts:
            raise RuntimeError("model failed")
        return [text.upper() for text in texts]


def test_workers_never_ask_for_more_threads_than_cores():
    assert inference_workers(1, cores=8) == 8
    assert inference_workers(2, cores=8) == 4
    assert inference_workers(3, cores=8) == 2
    assert inference_workers(16, cores=8) == 1
    assert inference_workers(None, cores=8) == 1  # onnxruntime's default uses every core


def run(coroutine):
    return asyncio.run(coroutine)


def test_concurrent_requests_share_model_calls_and_keep_their_own_results():
    model = RecordingModel()
    executor = InferenceExecutor(threads_per_call=1, cores=1)

    async def scenario():
        batcher = DynamicBatcher(model, executor, max_batch_texts=64, max_delay_ms=5)
        requests = [[f"r{i}-a", f"r{i}-b"] for i in range(20)]
        results = await asyncio.gather(*(batcher.submit(texts) for texts in requests))
        await batcher.close()
        return requests, results

    requests, results = run(scenario())
    assert results == [[text.upper() for text in texts] for texts in requests]
    assert len(model.calls) < 20 and sum(map(len, model.calls)) == 40  # grouped, and each text run once
    assert model.most == 1  # one inference thread: never two calls at once


def test_a_batch_never_passes_its_size_and_a_large_request_is_not_split():
    model = RecordingModel()

    async def scenario():
        batcher = DynamicBatcher(model, InferenceExecutor(1, cores=1), max_batch_texts=5, max_delay_ms=5)
        sizes = [3, 3, 3, 7, 1, 2]
        return await asyncio.gather(*(batcher.submit([f"{n}-{k}" for k in range(n)]) for n in sizes))

    results = run(scenario())
    assert [len(found) for found in results] == [3, 3, 3, 7, 1, 2]
    assert all(len(call) <= 5 for call in model.calls if len(call) != 7)
    assert [7] == [len(call) for call in model.calls if len(call) > 5]  # alone, whole


def test_a_lone_request_waits_at_most_the_delay():
    model = RecordingModel(seconds=0)

    async def scenario():
        batcher = DynamicBatcher(model, InferenceExecutor(1, cores=1), max_batch_texts=64, max_delay_ms=30)
        started = time.perf_counter()
        await batcher.submit(["alone"])
        return time.perf_counter() - started

    assert 0.025 <= run(scenario()) < 0.5


def test_a_failed_batch_fails_its_requests_and_the_batcher_goes_on():
    model = RecordingModel()

    async def scenario():
        batcher = DynamicBatcher(model, InferenceExecutor(1, cores=1), max_batch_texts=64, max_delay_ms=20)
        failed = await asyncio.gather(batcher.submit(["fine"]), batcher.submit(["boom"]), return_exceptions=True)
        after = await batcher.submit(["again"])
        return failed, after

    failed, after = run(scenario())
    assert all(isinstance(error, RuntimeError) for error in failed)  # one batch: both requests see the error
    assert after == ["AGAIN"]


def test_settings_are_checked():
    with pytest.raises(ValueError):
        DynamicBatcher(RecordingModel(), InferenceExecutor(1, cores=1), max_batch_texts=0)
