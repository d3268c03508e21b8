"""An asyncio client on ``zmq.asyncio`` sockets: many requests may be in flight at once.

One reader task per channel files every message with the shared ``MessageRouter``;
requests wait for their own exchange to complete, each wait bounded.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import zmq
import zmq.asyncio

from ..session import Session
from . import requests
from .channels import KernelChannels
from .errors import KernelDied, KernelTimeout
from .launcher import KernelProcess
from .requests import Request
from .results import Comm, ExecutionResult
from .router import (
    EOF_INPUT,
    HEARTBEAT_INTERVAL,
    IOPUB_RETRY,
    REQUEST_TIMEOUT,
    Exchange,
    InputHandler,
    OutputCallback,
    input_prompt,
    log,
)

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


class AsyncClient(KernelChannels):
    """The asyncio counterpart of ``kernelwire.client.BlockingClient``.

    Use ``async with AsyncClient(info) as client:`` (or ``await client.start()`` and
    ``await client.close()``), then ``await client.wait_for_ready()``. ``input_handler``
    may be a plain function or a coroutine function.
    """

    def __init__(
        self,
        connection: dict[str, Any] | str | os.PathLike[str],
        *,
        session: Session | None = None,
        kernel: KernelProcess | None = None,
        context: zmq.asyncio.Context | None = None,
        heartbeat_timeout: float = 5.0,
        input_handler: InputHandler | None = None,
    ) -> None:
        super().__init__(
            connection,
            session=session,
            kernel=kernel,
            context=context if context is not None else zmq.asyncio.Context.instance(),
            heartbeat_timeout=heartbeat_timeout,
            input_handler=input_handler,
        )
        self._hb_lock = asyncio.Lock()
        self._last_pong = time.monotonic()
        self._activity = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle

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

    async def wait_for_ready(self, timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
        """Wait until the kernel answers kernel_info_request and IOPub delivers (see
        ``BlockingClient.wait_for_ready``). Returns the kernel_info_reply."""
        await self.start()
        deadline = time.monotonic() + timeout
        reply: dict[str, Any] | None = None
        while reply is None or not self.router.iopub_live:
            exchange = await self._send(requests.kernel_info())
            try:
                await self._wait(exchange, deadline - time.monotonic())
            except KernelTimeout as exc:
                alive = await self.is_alive()
                raise self.router.not_ready_error(timeout, alive, exc.msg_id) from None
            reply = exchange.reply
            until = min(deadline, time.monotonic() + IOPUB_RETRY)
            while not self.router.iopub_live and time.monotonic() < until:
                await self._next_activity(until - time.monotonic())
            if not self.router.iopub_live and time.monotonic() >= deadline:
                raise KernelTimeout(f"no IOPub message from the kernel within {timeout:g} s")
        if self._stdin_monitor is not None:
            remaining = max(0.0, deadline - time.monotonic())
            if not await self._stdin_monitor.poll(int(remaining * 1000)):
                raise KernelTimeout(f"the stdin channel did not connect within {timeout:g} s")
            self._stop_stdin_monitor()
        return reply

    # ------------------------------------------------------------------ plumbing

    async def _send(self, request: Request, **callbacks: Any) -> Exchange:
        exchange, frames = self.router.request(request, **callbacks)
        socket = self._socket_for(request)
        await socket.send_multipart(frames, copy=False)
        return exchange

    def _notify(self) -> None:
        event, self._activity = self._activity, asyncio.Event()
        event.set()

    async def _next_activity(self, timeout: float) -> None:
        await wait_at_most(self._activity.wait(), timeout)

    async def _read(self, socket: Any, channel: str) -> None:
        """File every message of ``channel``, for as long as the client is open: errors of
        callbacks and handlers are filed with their request, so the reader never stops."""
        while True:
            frames = await socket.recv_multipart(copy=False)
            try:
                msg = self.router.receive(channel, frames)
                if msg is not None and channel == "stdin" and msg["msg_type"] == "input_request":
                    await self._answer_input(msg)
            except Exception:
                log.exception("handling a message on %s failed; the message is dropped", channel)
            self._notify()
            # A message already queued is returned without yielding to the loop: yield, or
            # a flood of IOPub keeps waits, their timeouts and the heartbeat from running.
            await asyncio.sleep(0)

    async def _answer_input(self, request: dict[str, Any]) -> None:
        handler = self.router.input_handler_for(request, self.input_handler)
        value = EOF_INPUT
        try:
            if handler is not None:
                answer = handler(*input_prompt(request))
                if inspect.isawaitable(answer):
                    answer = await answer
                value = str(answer)
        except EOFError:
            pass
        except Exception as exc:
            # Raised by the wait of the request that asked for input, as callback errors are.
            if not self.router.input_failed(request, exc):
                raise
        finally:
            await self.stdin.send_multipart(self.router.input_reply(request, value))

    async def _beat(self) -> None:
        while not self.closed:
            await self.is_alive(self.heartbeat_timeout)
            await asyncio.sleep(HEARTBEAT_INTERVAL)

    def _check_kernel(self) -> None:
        if self.kernel is not None:
            if not self.kernel.is_running():
                raise KernelDied(self.kernel.describe_exit())
        elif time.monotonic() - self._last_pong > self.heartbeat_timeout + HEARTBEAT_INTERVAL:
            raise KernelDied(
                f"the kernel did not answer a heartbeat within {self.heartbeat_timeout} s"
            )

    async def _wait(
        self, exchange: Exchange, timeout: float | None, what: str | None = None
    ) -> None:
        if not self._tasks:
            await self.start()
        wait = self.router.wait(exchange, timeout, what)
        try:
            while not wait.finished():
                wait.check_refusals()
                self._check_kernel()
                await self._next_activity(wait.next_slice())
        finally:
            wait.end()

    async def _ask(self, request: Request, timeout: float | None) -> dict[str, Any]:
        """Send ``request`` and return its reply."""
        exchange = await self._send(request)
        await self._wait(exchange, timeout)
        return exchange.final_reply

    # ------------------------------------------------------------------ shell requests

    async def execute(
        self,
        code: str,
        *,
        timeout: float | None = None,
        silent: bool = False,
        store_history: bool = True,
        user_expressions: dict[str, str] | None = None,
        allow_stdin: bool | None = None,
        stop_on_error: bool = True,
        output_callback: OutputCallback | None = None,
        input_handler: InputHandler | None = None,
    ) -> ExecutionResult:
        """Run ``code``: see ``BlockingClient.execute``."""
        handler = input_handler or self.input_handler
        request = requests.execute(
            code,
            silent=silent,
            store_history=store_history,
            user_expressions=user_expressions,
            allow_stdin=allow_stdin,
            stop_on_error=stop_on_error,
            can_answer_input=handler is not None,
        )
        exchange = await self._send(request, output_callback=output_callback, input_handler=handler)
        await self._wait(exchange, timeout)
        return ExecutionResult(exchange.final_reply, exchange.outputs)

    async def kernel_info(self, timeout: float | None = REQUEST_TIMEOUT) -> dict[str, Any]:
        """The kernel_info_reply message."""
        return await self._ask(requests.kernel_info(), timeout)

    async def complete(
        self, code: str, cursor_pos: int | None = None, timeout: float | None = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        """The complete_reply message; the cursor defaults to the end of ``code``."""
        return await self._ask(requests.complete(code, cursor_pos), timeout)

    async def inspect(
        self,
        code: str,
        cursor_pos: int | None = None,
        detail_level: int = 0,
        timeout: float | None = REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        """The inspect_reply message; the cursor defaults to the end of ``code``."""
        return await self._ask(requests.inspect(code, cursor_pos, detail_level), timeout)

    async def is_complete(
        self, code: str, timeout: float | None = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        """The is_complete_reply message."""
        return await self._ask(requests.is_complete(code), timeout)

    async def history(
        self,
        hist_access_type: str = "tail",
        *,
        output: bool = False,
        raw: bool = True,
        n: int = 10,
        timeout: float | None = REQUEST_TIMEOUT,
        **options: Any,
    ) -> dict[str, Any]:
        """The history_reply message (``options``: session, start, stop, pattern, unique)."""
        request = requests.history(hist_access_type, output=output, raw=raw, n=n, options=options)
        return await self._ask(request, timeout)

    async def comm_info(
        self, target_name: str | None = None, timeout: float | None = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        """The comm_info_reply message (all comms, or those of ``target_name``)."""
        return await self._ask(requests.comm_info(target_name), timeout)

    # ------------------------------------------------------------------ comms

    async def comm_open(
        self,
        target_name: str,
        data: dict[str, Any] | None = None,
        *,
        buffers: list[Any] | None = None,
        metadata: dict[str, Any] | None = None,
        comm_id: str | None = None,
    ) -> Comm:
        """Open a comm to the kernel's ``target_name`` (see ``BlockingClient.comm_open``)."""
        request = requests.comm_open(
            target_name, data, comm_id=comm_id, buffers=buffers, metadata=metadata
        )
        comm = self.router.open_comm(request)
        comm.open_msg_id = (await self._send(request)).msg_id
        return comm

    async def comm_msg(
        self,
        comm: Comm | str,
        data: dict[str, Any] | None = None,
        *,
        buffers: list[Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Send ``data`` (and binary ``buffers``) on a comm; returns the message id."""
        request = requests.comm_msg(comm, data, buffers=buffers, metadata=metadata)
        return (await self._send(request)).msg_id

    async def comm_close(
        self,
        comm: Comm | str,
        data: dict[str, Any] | None = None,
        *,
        buffers: list[Any] | None = None,
    ) -> str:
        """Close a comm; returns the message id."""
        return (await self._send(requests.comm_close(comm, data, buffers=buffers))).msg_id

    async def collect_outputs(
        self, msg_id: str, timeout: float | None = REQUEST_TIMEOUT
    ) -> list[dict[str, Any]]:
        """Wait until the request ``msg_id`` is complete (see
        ``BlockingClient.collect_outputs``); returns the IOPub messages it caused."""
        exchange = self.router.exchange(msg_id)
        await self._wait(exchange, timeout, f"idle status for {exchange.msg_type}")
        return exchange.outputs

    # ------------------------------------------------------------------ control

    async def interrupt(self, timeout: float | None = REQUEST_TIMEOUT) -> dict[str, Any]:
        """Ask the kernel to interrupt the running code; the interrupt_reply message."""
        return await self._ask(requests.interrupt(), timeout)

    async def shutdown(self, restart: bool = False, timeout: float = 10.0) -> dict[str, Any] | None:
        """Ask the kernel to shut down (see ``BlockingClient.shutdown``)."""
        exchange = await self._send(requests.shutdown(restart))
        deadline = time.monotonic() + timeout
        try:
            await self._wait(exchange, timeout)
        except KernelDied:
            return None
        kernel = self.kernel
        if kernel is not None and not restart:
            while kernel.is_running() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        return exchange.reply

    async def is_alive(self, timeout: float = 1.0) -> bool:
        """Whether the kernel answers a heartbeat within ``timeout`` seconds (and, for a
        kernel we started, whether its process runs)."""
        if self.kernel is not None and not self.kernel.is_running():
            return False
        async with self._hb_lock:
            answered = False
            try:
                await self.hb.send(b"ping")
                answered, _ = await wait_at_most(self.hb.recv(), timeout)
            finally:
                if not answered:
                    # A REQ socket that lost (or stopped waiting for) its reply can send no
                    # more: replace it.
                    self.hb.close(linger=0)
                    self.hb = self._connect("hb", zmq.REQ)
            if answered:
                self._last_pong = time.monotonic()
            return answered


__all__ = ["AsyncClient"]
