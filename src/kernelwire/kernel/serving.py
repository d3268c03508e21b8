"""A kernel serving a connection file: its ZeroMQ sockets and the threads that own them.

Threads and what each owns (a ZeroMQ socket is used by one thread at a time; the shell
ROUTER moves between the main thread and the shell router under a lock, see
:mod:`.shellport`):

- main: the main shell (the shell ROUTER while no subshell exists, else requests from the
  shell router, below; see :mod:`.shellport`) and the stdin ROUTER;
  runs the kernel's hooks, so ``KeyboardInterrupt`` from SIGINT lands in them (the handler
  raises only while a hook runs, see :mod:`.interrupts`).
- shell router (while subshells exist): the shell ROUTER; hands each request to the
  main shell (an inproc PAIR) or to the subshell its header names (see :mod:`.subshells`),
  and sends the replies of all of them. So a subshell is answered while the main thread
  runs a long cell.
- control: the control ROUTER; answers shutdown, interrupt and kernel_info at once, even
  while a cell runs.
- IOPub (see :mod:`.iopub`), heartbeat (see :mod:`.heartbeat`), and the launcher watch
  (see :mod:`.parentwatch`).

Every socket is made in :meth:`SocketServer.__init__` (the ROUTERs in :meth:`_bind`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import zmq

from ..connect import apply_curve, channel_url
from ..transport import recv_frames
from .channels import KernelIO
from .heartbeat import Heartbeat
from .iopub import IOPubChannel
from .parentwatch import EXIT_GRACE, WATCH_INTERVAL, LauncherWatch
from .shellport import ShellPort
from .sigwake import MissedSignalWatch

if TYPE_CHECKING:
    from .base import KernelBase

log = logging.getLogger("kernelwire.kernel")


def _signal_self() -> None:
    os.kill(os.getpid(), signal.SIGINT)


class SocketServer:
    """The sockets of ``kernel``'s connection info, bound, and the loops serving them."""

    def __init__(self, kernel: KernelBase) -> None:
        self.kernel = kernel
        info, limits = kernel.connection_info, kernel.limits
        self.context: zmq.Context[Any] = zmq.Context()
        self.shell = self._bind("shell", limits.shell_max_message_bytes, limits.shell_rcvhwm)
        self.control = self._bind(
            "control", limits.control_max_message_bytes, limits.control_rcvhwm
        )
        self.stdin = self._bind("stdin", limits.stdin_max_message_bytes, limits.stdin_rcvhwm)
        self.iopub = IOPubChannel(
            self.context, kernel.session, channel_url(info, "iopub"), limits, self._secure
        )
        self.heartbeat = Heartbeat(self.context, channel_url(info, "hb"), self._secure)
        self._wake_url = f"inproc://kernelwire-wake-{id(self)}"
        self._wake = self.context.socket(zmq.PULL)
        self._wake.bind(self._wake_url)
        self._wake_sender = self.context.socket(zmq.PUSH)
        self._wake_sender.linger = 0
        self._wake_sender.connect(self._wake_url)
        self._control_thread = threading.Thread(
            target=self._control_loop, name="kernelwire-control", daemon=True
        )
        # Until a subshell starts (for ever with max_subshells=0) the main thread reads the
        # shell ROUTER itself, one thread hop less each way (see :mod:`.shellport`).
        with_subshells = limits.max_subshells > 0 and kernel.allow_subshells
        self._router = ShellRouter(kernel, self.context, self.shell) if with_subshells else None
        self._port = (
            None
            if self._router is None
            else ShellPort(
                self.shell,
                self._router.main_shell,
                self._router.start,
                lambda frames, reply_socket: kernel.subshells.route(frames, reply_socket),
                self._router.hand_back,
            )
        )
        self.io = KernelIO(
            self.shell if self._port is None else self._port,
            self.control,
            self.stdin,
            self.iopub,
            _signal_self,
            None if self._router is None else self._open_subshell_outbox,
        )
        self._record_ports()

    def _secure(self, socket: zmq.Socket[Any]) -> None:
        """CurveZMQ: with a keypair in the connection info, each of the five channel sockets
        is a CURVE server (set before it binds). Only those: the kernel's private sockets
        (inproc, the I/O barrier's ipc pair) must stay as they are, or they would not talk."""
        apply_curve(socket, self.kernel.connection_info, server=True)

    def _record_ports(self) -> None:
        """Put the ports the system chose for channels bound to port 0 (as the startup
        handshake binds them) into the connection info."""
        info = self.kernel.connection_info
        if info.get("transport", "tcp") != "tcp":
            return
        endpoints = {
            "shell": self.shell.getsockopt_string(zmq.LAST_ENDPOINT),
            "control": self.control.getsockopt_string(zmq.LAST_ENDPOINT),
            "stdin": self.stdin.getsockopt_string(zmq.LAST_ENDPOINT),
            "iopub": self.iopub.url,
            "hb": self.heartbeat.endpoint,
        }
        for channel, endpoint in endpoints.items():
            if not info[f"{channel}_port"]:
                info[f"{channel}_port"] = int(endpoint.rsplit(":", 1)[1])

    def _bind(self, channel: str, max_message_bytes: int, rcvhwm: int) -> zmq.Socket[Any]:
        """A ROUTER whose peers are disconnected when they send a bigger frame, and not read
        from while ``rcvhwm`` of their messages wait (see :mod:`.limits`)."""
        socket = self.context.socket(zmq.ROUTER)
        self._secure(socket)
        socket.linger = 1000
        socket.maxmsgsize = max_message_bytes
        socket.rcvhwm = rcvhwm
        socket.bind(channel_url(self.kernel.connection_info, channel))
        return socket

    def serve(self) -> None:
        """Serve until the kernel stops; every process-wide change is undone after."""
        kernel = self.kernel
        with ExitStack() as undo:
            self._handle_interrupts(undo)
            self.iopub.start()
            self.heartbeat.start()
            undo.callback(self._close)  # after the kernel's own changes are undone
            kernel._patch_process(undo)
            self._control_thread.start()
            watch = LauncherWatch.for_process(os.environ, kernel._parent_pid_at_start)
            if watch is not None:
                threading.Thread(
                    target=self._watch_parent,
                    args=(watch,),
                    name="kernelwire-parent-watch",
                    daemon=True,
                ).start()
            try:
                self._shell_loop()
            finally:
                kernel._finished.set()

    def _handle_interrupts(self, undo: ExitStack) -> None:
        """SIGINT becomes KeyboardInterrupt in the running request's hook (see
        :mod:`.interrupts`) while the kernel serves; the previous handler comes back after,
        when late interrupts are harmless."""
        watch = MissedSignalWatch()

        def on_sigint(signum: int, frame: Any) -> None:
            watch.handled()
            self.kernel._on_sigint(signum, frame)

        previous_sigint = signal.signal(signal.SIGINT, on_sigint)
        undo.callback(signal.signal, signal.SIGINT, previous_sigint)
        watch.install(undo)  # after the handler: a SIGINT before it has no byte to miss
        # A launcher may hand down a signal mask that blocks SIGINT (masks survive exec, and
        # some CI runners and process supervisors block it): interrupts would then stay
        # pending for ever. Unblock it before the helper threads start, so they inherit it.
        unblock = getattr(signal, "pthread_sigmask", None)  # POSIX only
        if unblock is not None:
            previous_mask = unblock(signal.SIG_UNBLOCK, {signal.SIGINT})
            undo.callback(unblock, signal.SIG_SETMASK, previous_mask)

    def _open_subshell_outbox(self) -> Any:
        """In a new subshell's thread: route the shell channel from now on (see
        :mod:`.shellport`), and what the subshell sends its replies on."""
        assert self._port is not None and self._router is not None
        self._port.start_routing(self._wake_main)
        return self._router.open_outbox()

    def _wake_main(self) -> bool:
        """End the main thread's poll, from any thread (a socket of its own each time);
        False when the kernel is already closing."""
        try:
            waker = self.context.socket(zmq.PUSH)
        except zmq.ZMQError:  # the kernel is already closing
            return False
        waker.linger = 0
        waker.connect(self._wake_url)
        waker.send(b"")
        waker.close()
        return True

    def _shell_loop(self) -> None:
        kernel, shell, stdin, wake, port = (
            self.kernel,
            self.io.shell,
            self.stdin,
            self._wake,
            self._port,
        )
        reading: zmq.Socket[Any] | None = None
        poller = zmq.Poller()
        subshells = kernel.subshells
        while not kernel._stopping.is_set():
            frames = None
            ready: dict[Any, int] = {}
            with ExitStack() as held:  # the ROUTER is the main thread's only under the lock
                source = shell
                if port is not None:
                    held.enter_context(port.lock)
                    if port.switch_asked:
                        port.switch_now()
                    elif port.routing and subshells.all_ended:  # nothing to route to now
                        port.hand_back()
                    frames = port.take_handed()
                    source = port.routed if frames is not None else port.current
                    if port.routing:  # the main thread alone reads its PAIR: no lock needed
                        held.close()
                if frames is None:
                    if source is not reading:  # the first time, and at each switch
                        poller = zmq.Poller()
                        for socket in (source, wake, stdin):
                            poller.register(socket, zmq.POLLIN)
                        reading = source
                    ready = dict(poller.poll())
                    if source in ready:  # the signed frames as bytes: the codec's fast path
                        frames = recv_frames(source, zmq.NOBLOCK, copy=False)
            if wake in ready:
                wake.recv(zmq.NOBLOCK)
            if stdin in ready:
                kernel.stdin.discard_unexpected()
            if frames is None:
                continue
            # read from the ROUTER itself: a request may name a subshell (the router thread
            # routes what it reads)
            if port is not None and source is port.router and kernel.subshells.route(frames, port):
                continue
            kernel._dispatch_guarded(shell, kernel.shell_handlers, frames, "shell")

    def _control_loop(self) -> None:
        kernel = self.kernel
        try:
            while not kernel._shutdown_requested:
                frames = self.control.recv_multipart(copy=False)
                kernel._dispatch_guarded(self.control, kernel.control_handlers, frames, "control")
            kernel._stopping.set()
            self._wake_sender.send(b"")
        except zmq.ContextTerminated:
            pass
        finally:
            self.control.close()
            self._wake_sender.close()

    def _watch_parent(self, watch: LauncherWatch) -> None:
        """Stop when the process that started us is gone, so a crashed or killed frontend
        leaves no orphan kernel behind: as a shutdown_request would (a running cell is
        interrupted), and at once if user code does not stop within EXIT_GRACE."""
        kernel = self.kernel
        while not kernel._stopping.wait(WATCH_INTERVAL) and not kernel._finished.is_set():
            reason = watch.gone()
            if reason is None:
                continue
            log.warning("%s: shutting down", reason)
            kernel.launcher_gone = True
            kernel._stopping.set()
            if not self._wake_main():
                return
            if kernel.interrupts.in_request:  # a running cell would keep the main thread busy
                _signal_self()
            if not kernel._finished.wait(EXIT_GRACE):
                log.error("user code ignored the interrupt for %g s: exiting now", EXIT_GRACE)
                os._exit(1)
            return

    def _close(self) -> None:
        """Send what is queued, close every socket, and end the context."""
        if self._router is not None:
            assert self._port is not None
            with self._port.lock:  # no switch to routing from now on
                self._port.closed = True
            self.kernel.subshells.stop_all(timeout=1)
            self._router.stop()  # closes the ROUTER
        else:
            self.shell.close()
        self.iopub.stop()
        for socket in (self.stdin, self._wake):
            socket.close()
        self.context.term()  # ends the control and heartbeat threads if still running
        if self._control_thread.ident is not None:
            self._control_thread.join(timeout=5)
        self.heartbeat.join(timeout=5)
        self.kernel._release()


class ShellRouter:
    """The thread that reads the shell ROUTER when the kernel has subshells: it hands each
    request to the main shell (:attr:`main_shell`, an inproc PAIR the main thread reads as
    it would the ROUTER) or to the subshell its header names, and sends every shell's
    replies. The main shell's queue is bounded by ``shell_rcvhwm`` as the ROUTER's is: when
    it is full, the router reads the ROUTER no more until it has room (so everything
    behind waits), and sends the replies meanwhile.

    Once the last subshell has ended, the thread hands the ROUTER back to the main thread
    (:meth:`hand_back`); the next subshell starts it again."""

    def __init__(self, kernel: KernelBase, context: zmq.Context[Any], router: zmq.Socket[Any]):
        self.kernel, self.context, self.router = kernel, context, router
        self.hwm = kernel.limits.shell_rcvhwm
        self._main_url = f"inproc://kernelwire-shell-{id(self)}"
        self._replies_url = f"inproc://kernelwire-subshell-replies-{id(self)}"
        self._stop_url = f"inproc://kernelwire-shell-stop-{id(self)}"
        # made here, each used by one thread at a time after: the main thread's end, the
        # subshells' replies (one PUSH shared under a lock) and what they arrive on, the
        # stop signal; the router thread's ends of the PAIRs too, made once (a PAIR refuses
        # a new peer while it still holds the old one), used by each router thread in turn
        self.main_shell = _inproc(context, zmq.PAIR, self.hwm)
        self.main_shell.bind(self._main_url)
        self._replies = _inproc(context, zmq.PULL, self.hwm)
        self._replies.bind(self._replies_url)
        self._stop = _inproc(context, zmq.PAIR, 1)
        self._stop.bind(self._stop_url)
        self._to_main = _inproc(context, zmq.PAIR, self.hwm)
        self._to_main.connect(self._main_url)
        self._stopper = _inproc(context, zmq.PAIR, 1)
        self._stopper.connect(self._stop_url)
        subshell_replies = _inproc(context, zmq.PUSH, self.hwm)
        subshell_replies.connect(self._replies_url)
        self._outbox = LockedSender(subshell_replies)
        self._thread: threading.Thread | None = None  # while routing
        #: Requests for the main shell an ended router thread still held (see hand_back).
        self._held: list[list[Any]] = []

    def open_outbox(self) -> LockedSender:
        """What a subshell thread sends its replies on."""
        return self._outbox

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._route, name="kernelwire-shell-router", daemon=True
        )
        self._thread.start()

    def hand_back(self) -> list[list[Any]]:
        """Stop routing: the thread forwards what the shells answered and ends, leaving the
        ROUTER open for the main thread. Returns the requests for the main shell it held
        for want of room in the main shell's queue (newer than those in the queue)."""
        thread = self._signal_stop(_HAND_BACK)
        if thread is not None:
            thread.join()  # the thread waits on nothing but its poll: see _route
        held, self._held = self._held, []
        return held

    def stop(self) -> None:
        """Forward what the shells answered, then close every socket of the router."""
        thread = self._signal_stop(_STOP)
        if thread is not None:
            thread.join(timeout=5)
        self._outbox.close()
        for socket in (
            self.router,
            self._replies,
            self._to_main,
            self._stopper,
            self.main_shell,
            self._stop,
        ):
            socket.close()

    def _signal_stop(self, command: bytes) -> threading.Thread | None:
        """Tell the router thread to end; the thread, or None when none runs (one that
        died is not signalled: a stop left unread would end the next one at once)."""
        thread, self._thread = self._thread, None
        if thread is None or not thread.is_alive():
            return None
        self._stop.send(command)
        return thread

    def _route(self) -> None:
        """The router's thread: requests to the main shell or a subshell, replies from them
        to the ROUTER; until :meth:`hand_back` or :meth:`stop`, once what was answered is
        sent."""
        router, replies, main, stopper = self.router, self._replies, self._to_main, self._stopper
        route = self.kernel.subshells.route
        # Requests for the main shell wait here while its queue is full, and the ROUTER is
        # not read meanwhile: the thread never blocks on the main shell, which may itself
        # wait for room to send a reply (the two would wait for each other for ever).
        waiting: deque[list[Any]] = deque()
        held_back = False  # the ROUTER is not polled, the main shell's room is
        poller = zmq.Poller()
        for socket in (router, main, replies, stopper):
            poller.register(socket, zmq.POLLIN)
        try:
            while True:
                ready = dict(poller.poll())
                if router in ready:
                    for frames in _drain(router):
                        if not self._route_one(route, frames):
                            waiting.append(frames)
                for source in (main, replies):
                    if ready.get(source, 0) & zmq.POLLIN:
                        for frames in _drain(source):
                            router.send_multipart(frames, copy=False)
                _pass_on(waiting, main)
                if bool(waiting) != held_back:  # the poller watches what matters now
                    held_back = bool(waiting)
                    poller.modify(router, 0 if held_back else zmq.POLLIN)
                    poller.modify(main, zmq.POLLIN | (zmq.POLLOUT if held_back else 0))
                if stopper in ready:
                    handing_back = stopper.recv() == _HAND_BACK
                    for source in (main, replies):
                        for frames in _drain(source, limit=None):
                            router.send_multipart(frames, copy=False)
                    if handing_back:  # the main thread reads them after the queue's
                        self._held = list(waiting)
                    return
        except zmq.ContextTerminated:
            pass

    def _route_one(self, route: Callable[[list[Any], Any], bool], frames: list[Any]) -> bool:
        """``route(frames)``, but a failure (a bug of ours) drops that one message rather
        than end the thread that all shell traffic goes through."""
        try:
            return route(frames, self.router)
        except Exception:
            log.exception("routing a shell message failed: dropped")
            return True


#: What ends the router thread: handing the ROUTER back (the requests it holds go to the
#: main shell), or the kernel's end (they are dropped, with the ROUTER).
_HAND_BACK, _STOP = b"hand back", b"stop"


def _pass_on(waiting: deque[list[Any]], main: zmq.Socket[Any]) -> None:
    """Hand the main shell as many of the ``waiting`` requests as its queue has room for."""
    while waiting:
        try:
            main.send_multipart(waiting[0], zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return
        waiting.popleft()


def _inproc(context: zmq.Context[Any], kind: int, hwm: int) -> zmq.Socket[Any]:
    socket = context.socket(kind)
    socket.linger = 1000
    socket.sndhwm = socket.rcvhwm = hwm
    return socket


def _drain(socket: zmq.Socket[Any], limit: int | None = 100) -> list[list[Any]]:
    """The messages waiting on ``socket`` (at most ``limit``, so that no direction starves
    the others)."""
    messages: list[list[Any]] = []
    while limit is None or len(messages) < limit:
        try:
            messages.append(socket.recv_multipart(zmq.NOBLOCK, copy=False))
        except zmq.Again:
            break
    return messages


class LockedSender:
    """A socket several threads send on, one at a time (the subshells' replies); sends
    after :meth:`close` are dropped (the kernel is closing)."""

    def __init__(self, socket: zmq.Socket[Any]) -> None:
        self._socket = socket
        self._lock = threading.Lock()
        self._closed = False

    def send_multipart(
        self, frames: Any, flags: int = 0, copy: bool = True, track: bool = False
    ) -> None:
        with self._lock:
            if not self._closed:
                self._socket.send_multipart(frames, flags, copy=copy, track=track)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._socket.close()
