"""Running model calls for a server: a bounded executor, and dynamic batching of concurrent requests.

`InferenceExecutor` runs model calls on at most `cores // threads_per_call` threads, so concurrent
requests never ask onnxruntime for more threads than the machine has cores (each call already uses its
intra-op threads; more calls at once only make them fight over the cores).

`DynamicBatcher` groups the texts of concurrent requests into one model call, as Triton's dynamic
batcher does: when an inference thread is free, it takes every text waiting (up to `max_batch_texts`),
waits at most `max_delay_ms` for more to arrive if the batch is not full, runs them together and hands
each request its own results. Requests that arrive while every thread is busy wait in the queue and go
into the next batch together. A text's result does not depend on its batch neighbours (kdedge ships
batch-invariant variants), so batching changes the throughput and nothing else.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


def inference_workers(threads_per_call: int | None, cores: int | None = None) -> int:
    """How many model calls may run at once: the cores divided by each call's threads, at least one.
    A call with onnxruntime's default threads (None) uses every core, so one at a time."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // threads_per_call) if threads_per_call else 1


class InferenceExecutor:
    """A thread pool sized by `inference_workers`, for model calls from an event loop."""

    def __init__(self, threads_per_call: int | None, cores: int | None = None):
        self.workers = inference_workers(threads_per_call, cores)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="kdedge-inference")

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class _Waiting:
    texts: Sequence[str]
    future: asyncio.Future = field(repr=False)


class DynamicBatcher:
    """Group concurrent `submit` calls into model calls of up to `max_batch_texts` texts.

    `predict` takes a list of texts and returns one result per text, in order (`Predictor.predict`
    with the server's batch size). It runs on `executor`, at most `executor.workers` calls at once.
    """

    def __init__(self, predict: Callable[[list[str]], list], executor: InferenceExecutor,
                 max_batch_texts: int = 64, max_delay_ms: float = 2.0):
        if max_batch_texts < 1 or max_delay_ms < 0:
            raise ValueError("max_batch_texts must be at least 1 and max_delay_ms at least 0")
        self._predict, self._executor = predict, executor
        self.max_batch_texts, self.max_delay = max_batch_texts, max_delay_ms / 1000
        self._queue: asyncio.Queue[_Waiting] | None = None
        self._collector: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()
        self._held: _Waiting | None = None
        self.batches = 0  # model calls made, for tests and metrics
        self.texts = 0

    async def submit(self, texts: Sequence[str]) -> list:
        """The results of `texts`, computed in a batch with whatever else is waiting."""
        if self._collector is None or self._collector.done():
            self._queue = asyncio.Queue()
            self._collector = asyncio.get_running_loop().create_task(self._collect())
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Waiting(texts, future))
        return await future

    async def _collect(self) -> None:
        slots = asyncio.Semaphore(self._executor.workers)
        loop = asyncio.get_running_loop()
        while True:
            await slots.acquire()  # a free inference thread first: meanwhile requests pile up into one batch
            held, self._held = self._held, None
            group = [held or await self._queue.get()]
            count = len(group[0].texts)
            deadline = loop.time() + self.max_delay
            while count < self.max_batch_texts:
                if self._queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        waiting = await asyncio.wait_for(self._queue.get(), remaining)
                    except asyncio.TimeoutError:
                        break
                else:
                    waiting = self._queue.get_nowait()
                if count + len(waiting.texts) > self.max_batch_texts:
                    self._held = waiting  # the next batch starts with it: no request waits behind later ones
                    break
                group.append(waiting)
                count += len(waiting.texts)
            task = loop.create_task(self._run(group, slots))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, group: list[_Waiting], slots: asyncio.Semaphore) -> None:
        texts = [text for waiting in group for text in waiting.texts]
        try:
            results = await self._executor.run(self._predict, texts)
        except Exception as error:  # every request of the batch gets the error
            for waiting in group:
                if not waiting.future.done():
                    waiting.future.set_exception(error)
            return
        finally:
            slots.release()
        self.batches += 1
        self.texts += len(texts)
        start = 0
        for waiting in group:
            if not waiting.future.done():  # a client that went away leaves a cancelled future
                waiting.future.set_result(results[start : start + len(waiting.texts)])
            start += len(waiting.texts)

    async def close(self) -> None:
        if self._collector is not None:
            self._collector.cancel()
