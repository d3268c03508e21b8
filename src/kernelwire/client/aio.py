"""An asyncio client on ``zmq.asyncio`` sockets: many requests may be in flight at once.

One reader task per channel files every message with the shared :class:`MessageRouter`;
requests wait for their own exchange to complete, each wait bounded.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
import uuid
from typing import Any

import zmq
import zmq.asyncio

from ..connect import channel_url, load_connection_info
from ..connect import session_from_connection_info as _session_for
from ..session import Session
from .errors import KernelDied, KernelTimeout
from .launcher import KernelProcess
from .results import Comm, ExecutionResult
from .router import (
    EOF_INPUT,
    HEARTBEAT_INTERVAL,
    REQUEST_TIMEOUT,
    Exchange,
    InputHandler,
    MessageRouter,
    OutputCallback,
    not_ready_message,
)

_SLICE = 0.25


class AsyncClient:
    """The asyncio counterpart of :class:`~kernelwire.client.BlockingClient`.

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
        self.info = load_connection_info(connection)
        self.session = session if session is not None else _session_for(self.info)
        self.kernel = kernel
        self.heartbeat_timeout = heartbeat_timeout
        self.input_handler = input_handler
        self.router = MessageRouter(self.session)
        self._context = context if context is not None else zmq.asyncio.Context.instance()
        identity = self.session.bsession
        self.shell = self._connect("shell", zmq.DEALER, identity)
        self.control = self._connect("control", zmq.DEALER, identity)
        # The kernel's ROUTER drops an input_request to a peer it has not met yet:
        # wait_for_ready waits for the stdin handshake, watched from before the connect.
        self.stdin = self._socket(zmq.DEALER, identity)
        self._stdin_monitor: Any = self.stdin.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        self.stdin.connect(channel_url(self.info, "stdin"))
        self.iopub = self._connect("iopub", zmq.SUB)
        self.iopub.setsockopt(zmq.SUBSCRIBE, b"")
        self.hb = self._connect("hb", zmq.REQ)
        self._hb_lock = asyncio.Lock()
        self._last_pong = time.monotonic()
        self._activity = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._failure: Exception | None = None
        self.closed = False

    def _socket(self, kind: int, identity: bytes | None = None) -> Any:
        socket = self._context.socket(kind)
        socket.linger = 0
        if identity is not None:
            socket.identity = identity
        return socket

    def _connect(self, channel: str, kind: int, identity: bytes | None = None) -> Any:
        socket = self._socket(kind, identity)
        socket.connect(channel_url(self.info, channel))
        return socket

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the reader tasks (and the heartbeat, for a kernel we did not start)."""
        if self._tasks:
            return
        for socket, channel in (
            (self.shell, "shell"),
            (self.control, "control"),
            (self.stdin, "stdin"),
            (self.iopub, "iopub"),
        ):
            self._tasks.append(asyncio.create_task(self._read(socket, channel)))
        if self.kernel is None:
            self._tasks.append(asyncio.create_task(self._beat()))

    async def close(self) -> None:
        """Stop the reader tasks and close the sockets (the kernel keeps running)."""
        if self.closed:
            return
        self.closed = True
        self._stop_stdin_monitor()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for socket in (self.shell, self.control, self.stdin, self.iopub, self.hb):
            socket.close(linger=0)

    async def __aenter__(self) -> AsyncClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def wait_for_ready(self, timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
        """Wait until the kernel answers kernel_info_request and IOPub delivers (see
        :meth:`BlockingClient.wait_for_ready`). Returns the kernel_info_reply."""
        await self.start()
        deadline = time.monotonic() + timeout
        reply: dict[str, Any] | None = None
        while reply is None or not self.router.iopub_live:
            exchange = await self._send(self.shell, "kernel_info_request", {})
            try:
                await self._wait(exchange, deadline - time.monotonic(), "kernel_info_reply")
            except KernelTimeout as exc:
                alive = await self.is_alive()
                raise KernelTimeout(
                    not_ready_message(timeout, alive) + self.router.refusal_report(), exc.msg_id
                ) from None
            reply = exchange.reply
            until = min(deadline, time.monotonic() + 0.5)
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

    def _stop_stdin_monitor(self) -> None:
        if self._stdin_monitor is not None:
            self.stdin.disable_monitor()
            self._stdin_monitor.close(linger=0)
            self._stdin_monitor = None

    # ------------------------------------------------------------------ plumbing

    async def _send(
        self, socket: Any, msg_type: str, content: dict[str, Any], **options: Any
    ) -> Exchange:
        exchange, frames = self.router.request(msg_type, content, **options)
        await socket.send_multipart(frames, copy=False)
        return exchange

    def _notify(self) -> None:
        event, self._activity = self._activity, asyncio.Event()
        event.set()

    async def _next_activity(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._activity.wait(), max(0.0, timeout))
        except asyncio.TimeoutError:
            pass

    async def _read(self, socket: Any, channel: str) -> None:
        while True:
            frames = await socket.recv_multipart(copy=False)
            try:
                msg = self.router.receive(channel, frames)
                if msg is not None and channel == "stdin" and msg["msg_type"] == "input_request":
                    await self._answer_input(msg)
            except Exception as exc:
                # An output callback or input handler raised: every waiter re-raises it.
                self._failure = exc
                self._notify()
                return
            self._notify()

    async def _answer_input(self, request: dict[str, Any]) -> None:
        exchange = self.router.exchanges.get(request["parent_header"].get("msg_id", ""))
        handler = exchange.input_handler if exchange is not None else None
        handler = handler or self.input_handler
        content = request["content"]
        value = EOF_INPUT
        try:
            if handler is not None:
                answer = handler(content.get("prompt", ""), bool(content.get("password")))
                if inspect.isawaitable(answer):
                    answer = await answer
                value = str(answer)
        except EOFError:
            pass
        finally:
            await self.stdin.send_multipart(self.router.input_reply(request, value))

    async def _beat(self) -> None:
        while True:
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

    async def _wait(self, exchange: Exchange, timeout: float | None, what: str) -> None:
        if not self._tasks:
            await self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        refused_before = self.router.refused_replies
        while not exchange.done:
            if self._failure is not None:
                raise self._failure
            self.router.check_refusals(refused_before, what)
            self._check_kernel()
            if deadline is None:
                await self._next_activity(_SLICE)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelTimeout(
                    f"no {what} within {timeout:g} s ({exchange.progress()})."
                    + self.router.refusal_report(),
                    msg_id=exchange.msg_id,
                )
            await self._next_activity(min(remaining, _SLICE))

    async def _shell_request(
        self, msg_type: str, content: dict[str, Any], timeout: float | None
    ) -> dict[str, Any]:
        exchange = await self._send(self.shell, msg_type, content)
        await self._wait(exchange, timeout, msg_type.replace("_request", "_reply"))
        assert exchange.reply is not None
        return exchange.reply

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
        """Run ``code``: see :meth:`BlockingClient.execute`."""
        handler = input_handler or self.input_handler
        content = {
            "code": code,
            "silent": silent,
            "store_history": store_history,
            "user_expressions": user_expressions or {},
            "allow_stdin": handler is not None if allow_stdin is None else allow_stdin,
            "stop_on_error": stop_on_error,
        }
        exchange = await self._send(
            self.shell,
            "execute_request",
            content,
            wants_idle=True,
            output_callback=output_callback,
            input_handler=handler,
        )
        await self._wait(exchange, timeout, "execute_reply and idle status")
        assert exchange.reply is not None
        return ExecutionResult(exchange.reply, exchange.outputs)

    async def kernel_info(self, timeout: float | None = REQUEST_TIMEOUT) -> dict[str, Any]:
        """The kernel_info_reply message."""
        return await self._shell_request("kernel_info_request", {}, timeout)

    async def complete(
        self, code: str, cursor_pos: int | None = None, timeout: float | None = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        """The complete_reply message; the cursor defaults to the end of ``code``."""
        pos = len(code) if cursor_pos is None else cursor_pos
        return await self._shell_request(
            "complete_request", {"code": code, "cursor_pos": pos}, timeout
        )

    async def inspect(
        self,
        code: str,
        cursor_pos: int | None = None,
        detail_level: int = 0,
        timeout: float | None = REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        """The inspect_reply message; the cursor defaults to the end of ``code``."""
        pos = len(code) if cursor_pos is None else cursor_pos
        content = {"code": code, "cursor_pos": pos, "detail_level": detail_level}
        return await self._shell_request("inspect_request", content, timeout)

    async def is_complete(
        self, code: str, timeout: float | None = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        """The is_complete_reply message."""
        return await self._shell_request("is_complete_request", {"code": code}, timeout)

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
        content = {
            "hist_access_type": hist_access_type,
            "output": output,
            "raw": raw,
            "n": n,
            **options,
        }
        return await self._shell_request("history_request", content, timeout)

    async def comm_info(
        self, target_name: str | None = None, timeout: float | None = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        """The comm_info_reply message (all comms, or those of ``target_name``)."""
        content = {} if target_name is None else {"target_name": target_name}
        return await self._shell_request("comm_info_request", content, timeout)

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
        """Open a comm to the kernel's ``target_name`` (see :meth:`BlockingClient.comm_open`)."""
        comm_id = comm_id or uuid.uuid4().hex
        content = {"comm_id": comm_id, "target_name": target_name, "data": data or {}}
        comm = Comm(comm_id, target_name, "")
        self.router.comms[comm_id] = comm
        exchange = await self._send(
            self.shell,
            "comm_open",
            content,
            wants_reply=False,
            wants_idle=True,
            buffers=buffers,
            metadata=metadata,
        )
        comm.open_msg_id = exchange.msg_id
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
        comm_id = comm.comm_id if isinstance(comm, Comm) else comm
        exchange = await self._send(
            self.shell,
            "comm_msg",
            {"comm_id": comm_id, "data": data or {}},
            wants_reply=False,
            wants_idle=True,
            buffers=buffers,
            metadata=metadata,
        )
        return exchange.msg_id

    async def comm_close(
        self,
        comm: Comm | str,
        data: dict[str, Any] | None = None,
        *,
        buffers: list[Any] | None = None,
    ) -> str:
        """Close a comm; returns the message id."""
        comm_id = comm.comm_id if isinstance(comm, Comm) else comm
        if isinstance(comm, Comm):
            comm.closed = True
        exchange = await self._send(
            self.shell,
            "comm_close",
            {"comm_id": comm_id, "data": data or {}},
            wants_reply=False,
            wants_idle=True,
            buffers=buffers,
        )
        return exchange.msg_id

    async def collect_outputs(
        self, msg_id: str, timeout: float | None = REQUEST_TIMEOUT
    ) -> list[dict[str, Any]]:
        """Wait until the request ``msg_id`` is complete (see
        :meth:`BlockingClient.collect_outputs`); returns the IOPub messages it caused."""
        exchange = self.router.exchanges.get(msg_id)
        if exchange is None:
            raise KeyError(f"no recent request has msg_id {msg_id!r}")
        await self._wait(exchange, timeout, f"idle status for {exchange.msg_type}")
        return exchange.outputs

    # ------------------------------------------------------------------ control

    async def interrupt(self, timeout: float | None = REQUEST_TIMEOUT) -> dict[str, Any]:
        """Ask the kernel to interrupt the running code; the interrupt_reply message."""
        exchange = await self._send(self.control, "interrupt_request", {})
        await self._wait(exchange, timeout, "interrupt_reply")
        assert exchange.reply is not None
        return exchange.reply

    async def shutdown(self, restart: bool = False, timeout: float = 10.0) -> dict[str, Any] | None:
        """Ask the kernel to shut down (see :meth:`BlockingClient.shutdown`)."""
        exchange = await self._send(self.control, "shutdown_request", {"restart": restart})
        deadline = time.monotonic() + timeout
        try:
            await self._wait(exchange, timeout, "shutdown_reply")
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
            await self.hb.send(b"ping")
            try:
                await asyncio.wait_for(self.hb.recv(), timeout)
            except asyncio.TimeoutError:
                # A REQ socket that lost its reply can send no more: replace it.
                self.hb.close(linger=0)
                self.hb = self._connect("hb", zmq.REQ)
                return False
            self._last_pong = time.monotonic()
            return True


__all__ = ["AsyncClient"]
