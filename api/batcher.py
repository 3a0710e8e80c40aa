"""Micro-batching of real-time requests: concurrent requests share one model call.

Requests go into an asyncio queue; one collector task takes what is waiting (up to `max_items`
texts), runs the model on all of it in one call in a worker thread, and hands each request its share.
While a call runs, new requests queue up and form the next call, so the batch grows with the load and
throughput with it, while a lone request is never held back (unless `window` asks to wait for company).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass
class _Request(Generic[In, Out]):
    items: Sequence[In]
    future: asyncio.Future[list[Out]] = field(repr=False)


class MicroBatcher(Generic[In, Out]):
    """Gathers concurrent `submit` calls and runs `run(all_items)` once per gathered batch.

    `run` must return one output per input, in order; it runs in a single dedicated thread, so model
    calls never overlap (the model already uses every core it is given).
    """

    def __init__(
        self,
        run: Callable[[list[In]], list[Out]],
        *,
        max_items: int = 64,
        window: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._run = run
        self.max_items = max_items
        self.window = window
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Request[In, Out]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kesheng-model")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._collect(), name="kesheng-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)

    async def submit(self, items: Sequence[In]) -> list[Out]:
        """The outputs for `items`, computed together with whatever else is waiting."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future: asyncio.Future[list[Out]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(items, future))
        return await future

    async def _gather(self, first: _Request[In, Out]) -> list[_Request[In, Out]]:
        assert self._queue is not None
        batch, count = [first], len(first.items)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window
        while count < self.max_items:
            try:
                request = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    request = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(request)
            count += len(request.items)
        return batch

    async def _collect(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather(await self._queue.get())
            items = [item for request in batch for item in request.items]
            try:
                outputs = await loop.run_in_executor(self._executor, self._run, items)
            except Exception as error:  # every waiting request gets the model's error
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(error)
                continue
            if self.on_batch is not None:
                self.on_batch(len(items))
            start = 0
            for request in batch:
                end = start + len(request.items)
                if not request.future.done():  # the client may have gone away
                    request.future.set_result(outputs[start:end])
                start = end
