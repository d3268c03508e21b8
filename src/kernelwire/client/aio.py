"""An asyncio client on ``zmq.asyncio`` sockets: many requests may be in flight at once.

It only does I/O: one reader task per channel hands every message to the core, and its
operations (``ClientOperations``) are the core's plans, each effect performed by awaiting;
every call returns a coroutine.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

import zmq
import zmq.asyncio

from .api import ClientOperations
from .channels import KernelChannels
from .core import Plan, PlanRun
from .results import Comm, ExecutionResult
from .router import HEARTBEAT_INTERVAL, InputHandler, log

T = TypeVar("T")


async def wait_at_most(awaitable: Awaitable[T], timeout: float) -> tuple[bool, T | None]:
    """``(True, result)`` of ``awaitable`` if it completes within ``timeout`` seconds, else
    ``(False, None)`` with it cancelled.

    Not ``asyncio.wait_for``: before Python 3.12 it swallows a cancellation that arrives in
    the loop iteration where its awaitable completes (it returns the result instead), so a
    task cancelled then runs on. That kept ``close()`` waiting forever for a heartbeat task.
    """
    future = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({future}, timeout=max(0.0, timeout))
    finally:
        if not future.done():
            future.cancel()
    if not done:
        return False, None
    return True, future.result()


class AsyncClient(
    KernelChannels,
    ClientOperations[
        Coroutine[Any, Any, ExecutionResult],
        Coroutine[Any, Any, dict[str, Any]],
        Coroutine[Any, Any, dict[str, Any] | None],
        Coroutine[Any, Any, list[dict[str, Any]]],
        Coroutine[Any, Any, Comm],
        Coroutine[Any, Any, str],
        Coroutine[Any, Any, str],
        Coroutine[Any, Any, list[str]],
    ],
):
    """The asyncio counterpart of ``kernelwire.client.BlockingClient``.

    Use ``async with AsyncClient(info) as client:`` (or ``await client.start()`` and
    ``await client.close()``), then ``await client.wait_for_ready()``. Every operation
    returns a coroutine to await. Its ``context`` is a ``zmq.asyncio.Context`` (default:
    the shared instance); the other arguments are ``BlockingClient``'s, and
    ``input_handler`` may also be a coroutine function.
    """

    def _default_context(self) -> zmq.asyncio.Context:
        return zmq.asyncio.Context.instance()

    def _prepare_io(self) -> None:
        self._hb_lock = asyncio.Lock()
        self._activity = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start the reader tasks (and the heartbeat, for a kernel we did not start)."""
        if self._tasks:
            return
        for socket, channel in self._channels.items():
            self._tasks.append(asyncio.create_task(self._read(socket, channel)))
        if self.kernel is None:
            self._tasks.append(asyncio.create_task(self._beat()))

    async def close(self) -> None:
        """Stop the reader tasks and close the sockets (the kernel keeps running)."""
        if self.closed:
            return
        self.closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._close_sockets()

    async def __aenter__(self) -> AsyncClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def is_alive(self, timeout: float = 1.0) -> bool:
        """Whether the kernel answers a heartbeat within ``timeout`` seconds (and, for a
        kernel we started, whether its process runs)."""
        if self.kernel is not None and not self.kernel.is_running():
            return False
        async with self._hb_lock:
            answered = False
            try:
                # the send is bounded too: on a refused handshake (libzmq never retries it,
                # e.g. Curve keys the kernel does not share) it would never end
                sent, _ = await wait_at_most(self.hb.send(b"ping"), timeout)
                self.core.heartbeat.pinged(time.monotonic())
                if sent:
                    answered, _ = await wait_at_most(self.hb.recv(), timeout)
            finally:
                if not answered:
                    # A REQ socket that lost (or stopped waiting for) its reply can send no
                    # more: replace it.
                    self.hb.close(linger=0)
                    self.hb = self._connect("hb", zmq.REQ)
            if answered:
                self.core.heartbeat.answered(time.monotonic())
            return answered

    # ------------------------------------------------------------------ I/O tasks

    async def _read(self, socket: Any, channel: str) -> None:
        """Hand every message of ``channel`` to the core, for as long as the client is
        open: errors of callbacks and handlers are filed with their request, so the reader
        never stops."""
        while True:
            frames = await socket.recv_multipart(copy=False)
            try:
                answer = self.core.receive(channel, frames)
                if answer is not None:
                    await self._run(answer)
            except Exception:
                log.exception("handling a message on %s failed; the message is dropped", channel)
            event, self._activity = self._activity, asyncio.Event()
            event.set()
            # A message already queued is returned without yielding to the loop: yield, or
            # a flood of IOPub keeps waits, their timeouts and the heartbeat from running.
            await asyncio.sleep(0)

    async def _beat(self) -> None:
        """Ping every ``HEARTBEAT_INTERVAL`` (the core judges the silences)."""
        while not self.closed:
            await self.is_alive(self.heartbeat_timeout)
            await asyncio.sleep(HEARTBEAT_INTERVAL)

    # ------------------------------------------------------------------ effects of plans

    async def _run(self, plan: Plan[T]) -> T:
        if not self._tasks:
            await self.start()
        run = PlanRun(plan)
        try:
            effect = run.next_effect()
            while effect is not None:
                try:
                    run.succeeded(await effect(self))
                except Exception as exc:
                    run.failed(exc)
                effect = run.next_effect()
        finally:
            run.close()
        return run.result

    async def _receive(self, seconds: float, ping: bool) -> None:
        """Wait up to ``seconds`` for the readers to file a message (``ping`` is for a
        client without a heartbeat task)."""
        await wait_at_most(self._activity.wait(), seconds)

    async def _heartbeat_lost(self) -> None:
        """Nothing to do: ``is_alive`` replaced the socket when its ping timed out."""

    async def _stdin_connected(self, timeout: float) -> bool:
        monitor = self._stdin_monitor
        return monitor is None or self._handshake_seen(await monitor.poll(int(timeout * 1000)))

    async def _kernel_exit(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.kernel is not None and self.kernel.is_running():
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.05)

    async def _call_input_handler(self, handler: InputHandler, prompt: str, password: bool) -> Any:
        answer = handler(prompt, password)
        return await answer if inspect.isawaitable(answer) else answer


__all__ = ["AsyncClient", "wait_at_most"]
