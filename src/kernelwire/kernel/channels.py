"""What a kernel's dispatch reads from and writes to, whatever carries the messages.

:class:`~.base.KernelBase` handles messages through a :class:`KernelIO`: ZeroMQ sockets
when it serves a connection file (see :mod:`.serving`), in-memory queues in tests (see
:mod:`.memory`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .base import KernelBase


class Publisher(Protocol):
    """What the kernel publishes IOPub messages through (:class:`.iopub.IOPubChannel`)."""

    #: Wraps every send, so that no interrupt cuts a message in half.
    guard: Callable[[], AbstractContextManager[Any]]

    def publish(
        self,
        msg_type: str,
        content: dict[str, Any],
        parent: dict[str, Any] | None = None,
        topic: str | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
        direct: bool = False,
    ) -> None:
        """Publish a message after those published before it; ``direct``: sparing it a
        thread hop where nothing is queued is worth a check (the kernel's framing)."""

    def flush(self, timeout: float = 10.0) -> bool: ...


@dataclass
class KernelIO:
    """Everything the dispatch reads from and writes to. ``shell``, ``control`` and
    ``stdin`` behave as ROUTER sockets (``send_multipart``, ``recv_multipart`` raising
    ``zmq.Again`` when NOBLOCK finds nothing); ``interrupt_main`` interrupts the main
    thread's running request (a SIGINT to this process for a real kernel).
    ``open_subshell_outbox``, called in a subshell's thread, gives what that thread sends its
    shell replies on (None: no subshells, see :mod:`.subshells`)."""

    shell: Any
    control: Any
    stdin: Any
    iopub: Publisher
    interrupt_main: Callable[[], None]
    open_subshell_outbox: Callable[[], Any] | None = None


#: Makes the I/O of a kernel (its session is ready) in place of sockets.
IOFactory = Callable[["KernelBase"], KernelIO]
