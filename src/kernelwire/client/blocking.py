"""A blocking client: one thread, its own sockets, every wait bounded."""

from __future__ import annotations

import os
import time
from typing import Any

import zmq

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
    PUMP_BATCH,
    REQUEST_TIMEOUT,
    Exchange,
    InputHandler,
    OutputCallback,
    input_prompt,
)


class BlockingClient(KernelChannels):
    """Talks to one kernel over shell, iopub, stdin, control and heartbeat.

    ``connection`` is connection info or a connection file path. Give ``kernel`` (a
    ``KernelProcess``) when you started the kernel: its exit is then noticed at once;
    otherwise the heartbeat tells (no answer for ``heartbeat_timeout`` seconds counts as
    dead). ``session`` defaults to one made from the connection info; ``input_handler``
    answers ``input()`` in the kernel. Call ``wait_for_ready`` before the first request.
    Use it from one thread (zmq sockets are not thread-safe).
    """

    def __init__(
        self,
        connection: dict[str, Any] | str | os.PathLike[str],
        *,
        session: Session | None = None,
        kernel: KernelProcess | None = None,
        context: zmq.Context[Any] | None = None,
        heartbeat_timeout: float = 5.0,
        input_handler: InputHandler | None = None,
    ) -> None:
        super().__init__(
            connection,
            session=session,
            kernel=kernel,
            context=context if context is not None else zmq.Context.instance(),
            heartbeat_timeout=heartbeat_timeout,
            input_handler=input_handler,
        )
        self._poller = zmq.Poller()
        for socket in (*self._channels, self.hb):
            self._poller.register(socket, zmq.POLLIN)
        self._ping_sent: float | None = None
        self._last_pong = time.monotonic()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the sockets (the kernel keeps running)."""
        if not self.closed:
            self.closed = True
            self._close_sockets()

    def __enter__(self) -> BlockingClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def wait_for_ready(self, timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
        """Wait until the kernel answers ``kernel_info_request`` and IOPub delivers.

        A SUB socket misses what is published before its subscription reaches the
        kernel, so this repeats kernel_info_request until some IOPub message (its status,
        or an ``iopub_welcome``) arrives. Returns the kernel_info_reply.
        """
        deadline = time.monotonic() + timeout
        reply: dict[str, Any] | None = None
        while reply is None or not self.router.iopub_live:
            exchange = self._send(requests.kernel_info())
            try:
                self._wait(exchange, deadline - time.monotonic())
            except KernelTimeout as exc:
                raise self.router.not_ready_error(timeout, self.is_alive(), exc.msg_id) from None
            reply = exchange.reply
            until = min(deadline, time.monotonic() + IOPUB_RETRY)
            while not self.router.iopub_live and time.monotonic() < until:
                self._pump(until - time.monotonic())
            if not self.router.iopub_live and time.monotonic() >= deadline:
                raise KernelTimeout(f"no IOPub message from the kernel within {timeout:g} s")
        if self._stdin_monitor is not None:
            remaining = max(0.0, deadline - time.monotonic())
            if not self._stdin_monitor.poll(int(remaining * 1000)):
                raise KernelTimeout(f"the stdin channel did not connect within {timeout:g} s")
            self._stop_stdin_monitor()
        return reply

    # ------------------------------------------------------------------ plumbing

    def _send(self, request: Request, **callbacks: Any) -> Exchange:
        exchange, frames = self.router.request(request, **callbacks)
        socket = self._socket_for(request)
        socket.send_multipart(frames, copy=False)
        return exchange

    def _pump(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for messages and handle all that arrived."""
        ready = dict(self._poller.poll(max(0, int(timeout * 1000))))
        if self.hb in ready:
            self.hb.recv()
            self._ping_sent = None
            self._last_pong = time.monotonic()
        for socket, channel in self._channels.items():
            if socket not in ready:
                continue
            # A batch at a time: draining a flooded socket dry could take forever.
            for _ in range(PUMP_BATCH):
                try:
                    frames = socket.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                msg = self.router.receive(channel, frames)
                if msg is not None and channel == "stdin" and msg["msg_type"] == "input_request":
                    self._answer_input(msg)

    def _answer_input(self, request: dict[str, Any]) -> None:
        handler = self.router.input_handler_for(request, self.input_handler)
        value = EOF_INPUT
        try:
            if handler is not None:
                value = str(handler(*input_prompt(request)))
        except EOFError:
            pass
        finally:
            # Always answer: the kernel would otherwise wait for input forever.
            self.stdin.send_multipart(self.router.input_reply(request, value))

    def _check_kernel(self) -> None:
        """Raise KernelDied if the kernel process exited or stopped answering heartbeats."""
        if self.kernel is not None:
            if not self.kernel.is_running():
                raise KernelDied(self.kernel.describe_exit())
            return
        now = time.monotonic()
        if self._ping_sent is None:
            if now - self._last_pong >= HEARTBEAT_INTERVAL:
                self.hb.send(b"ping")
                self._ping_sent = now
        elif now - self._ping_sent > self.heartbeat_timeout:
            self._reset_heartbeat()
            raise KernelDied(
                f"the kernel did not answer a heartbeat within {self.heartbeat_timeout} s"
            )

    def _reset_heartbeat(self) -> None:
        """A REQ socket that lost its reply can send no more: replace it."""
        self._poller.unregister(self.hb)
        self.hb.close(linger=0)
        self.hb = self._connect("hb", zmq.REQ)
        self._poller.register(self.hb, zmq.POLLIN)
        self._ping_sent = None
        self._last_pong = time.monotonic()

    def _wait(self, exchange: Exchange, timeout: float | None, what: str | None = None) -> None:
        """Handle messages until ``exchange`` is done; bounded by ``timeout`` seconds (None:
        no bound, but the kernel's death or a refused reply still ends the wait)."""
        wait = self.router.wait(exchange, timeout, what)
        try:
            while not wait.finished():
                wait.check_refusals()
                self._check_kernel()
                self._pump(wait.next_slice())
        finally:
            wait.end()

    def _ask(self, request: Request, timeout: float | None) -> dict[str, Any]:
        """Send ``request`` and return its reply."""
        exchange = self._send(request)
        self._wait(exchange, timeout)
        return exchange.final_reply

    # ------------------------------------------------------------------ shell requests

    def execute(
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
        """Run ``code``; returns the reply and the IOPub messages of the request, collected
        until the kernel reports idle for it. ``output_callback`` sees each IOPub message
        as it arrives; if it raises, this call raises that error (once) and the request's
        later outputs are only kept. stdin is allowed when an input handler is given (here
        or on the client) unless ``allow_stdin`` says otherwise."""
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
        exchange = self._send(request, output_callback=output_callback, input_handler=handler)
        self._wait(exchange, timeout)
        return ExecutionResult(exchange.final_reply, exchange.outputs)

    def kernel_info(self, timeout: float | None = REQUEST_TIMEOUT) -> dict[str, Any]:
        """The kernel_info_reply message."""
        return self._ask(requests.kernel_info(), timeout)

    def complete(
        self, code: str, cursor_pos: int | None = None, timeout: float | None = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        """The complete_reply message; the cursor defaults to the end of ``code``."""
        return self._ask(requests.complete(code, cursor_pos), timeout)

    def inspect(
        self,
        code: str,
        cursor_pos: int | None = None,
        detail_level: int = 0,
        timeout: float | None = REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        """The inspect_reply message; the cursor defaults to the end of ``code``."""
        return self._ask(requests.inspect(code, cursor_pos, detail_level), timeout)

    def is_complete(self, code: str, timeout: float | None = REQUEST_TIMEOUT) -> dict[str, Any]:
        """The is_complete_reply message."""
        return self._ask(requests.is_complete(code), timeout)

    def history(
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
        return self._ask(request, timeout)

    def comm_info(
        self, target_name: str | None = None, timeout: float | None = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        """The comm_info_reply message (all comms, or those of ``target_name``)."""
        return self._ask(requests.comm_info(target_name), timeout)

    # ------------------------------------------------------------------ comms

    def comm_open(
        self,
        target_name: str,
        data: dict[str, Any] | None = None,
        *,
        buffers: list[Any] | None = None,
        metadata: dict[str, Any] | None = None,
        comm_id: str | None = None,
    ) -> Comm:
        """Open a comm to the kernel's ``target_name``; the kernel's messages on it collect
        in the returned ``Comm`` as messages are handled (see ``collect_outputs``)."""
        request = requests.comm_open(
            target_name, data, comm_id=comm_id, buffers=buffers, metadata=metadata
        )
        comm = self.router.open_comm(request)
        comm.open_msg_id = self._send(request).msg_id
        return comm

    def comm_msg(
        self,
        comm: Comm | str,
        data: dict[str, Any] | None = None,
        *,
        buffers: list[Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Send ``data`` (and binary ``buffers``) on a comm; returns the message id."""
        return self._send(requests.comm_msg(comm, data, buffers=buffers, metadata=metadata)).msg_id

    def comm_close(
        self,
        comm: Comm | str,
        data: dict[str, Any] | None = None,
        *,
        buffers: list[Any] | None = None,
    ) -> str:
        """Close a comm; returns the message id."""
        return self._send(requests.comm_close(comm, data, buffers=buffers)).msg_id

    def collect_outputs(
        self, msg_id: str, timeout: float | None = REQUEST_TIMEOUT
    ) -> list[dict[str, Any]]:
        """Wait until the request ``msg_id`` (one of the last few hundred sent) is complete:
        the kernel reported idle for it (and replied, if it has a reply). Returns the IOPub
        messages it caused; use it to resume a request after a timeout, or for comms.
        (What arrived while no call waited for the request is held up to
        ``UNCLAIMED_OUTPUTS`` messages over all requests, the oldest dropped first.)"""
        exchange = self.router.exchange(msg_id)
        self._wait(exchange, timeout, f"idle status for {exchange.msg_type}")
        return exchange.outputs

    # ------------------------------------------------------------------ control

    def interrupt(self, timeout: float | None = REQUEST_TIMEOUT) -> dict[str, Any]:
        """Ask the kernel to interrupt the running code; the interrupt_reply message."""
        return self._ask(requests.interrupt(), timeout)

    def shutdown(self, restart: bool = False, timeout: float = 10.0) -> dict[str, Any] | None:
        """Ask the kernel to shut down; returns the shutdown_reply (None when a kernel we
        started exited before replying). Waits for a started kernel's process to end."""
        exchange = self._send(requests.shutdown(restart))
        deadline = time.monotonic() + timeout
        try:
            self._wait(exchange, timeout)
        except KernelDied:
            return None
        if self.kernel is not None and not restart:
            self.kernel.wait(max(0.0, deadline - time.monotonic()))
        return exchange.reply

    def is_alive(self, timeout: float = 1.0) -> bool:
        """Whether the kernel answers a heartbeat within ``timeout`` seconds (and, for a
        kernel we started, whether its process runs)."""
        if self.kernel is not None and not self.kernel.is_running():
            return False
        if self._ping_sent is None:
            self.hb.send(b"ping")
            self._ping_sent = time.monotonic()
        if self.hb.poll(int(timeout * 1000)):
            self.hb.recv()
            self._ping_sent = None
            self._last_pong = time.monotonic()
            return True
        self._reset_heartbeat()
        return False


__all__ = ["BlockingClient"]
