"""A minimal comm registry: custom messages between frontend and kernel objects.

Frontends open comms on shell (``comm_open`` naming a target registered with
:meth:`CommManager.register_target`), exchange ``comm_msg`` and end with ``comm_close``;
the kernel side answers on IOPub. An open for an unknown target is closed at once, as the
spec asks, so both sides agree that no comm exists. The kernel checks the fields of comm
messages before they come here (see :mod:`.validation`); problems are logged through the
kernel's rate-limited :class:`~.logs.RejectionLog`, as a peer decides how many there are.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from .logs import RejectionLog

log = logging.getLogger("kernelwire.kernel")

#: ``publish(msg_type, content, buffers)`` on IOPub, parented to the current request.
CommPublisher = Callable[[str, dict[str, Any], list[Any] | None], None]
MsgCallback = Callable[[dict[str, Any]], Any]


class Comm:
    """The kernel end of one comm."""

    def __init__(self, manager: CommManager, target_name: str, comm_id: str) -> None:
        self.manager = manager
        self.target_name = target_name
        self.comm_id = comm_id
        self.closed = False
        self._on_msg: list[MsgCallback] = []
        self._on_close: list[MsgCallback] = []

    def on_msg(self, callback: MsgCallback) -> None:
        """Call ``callback(msg)`` for each ``comm_msg`` from the frontend."""
        self._on_msg.append(callback)

    def on_close(self, callback: MsgCallback) -> None:
        """Call ``callback(msg)`` when the frontend closes the comm."""
        self._on_close.append(callback)

    def send(self, data: Any = None, buffers: list[Any] | None = None) -> None:
        """Send ``data`` to the frontend end as a ``comm_msg``."""
        if self.closed:
            raise RuntimeError(f"comm {self.comm_id} is closed")
        content = {"comm_id": self.comm_id, "data": data or {}}
        self.manager.publish("comm_msg", content, buffers)

    def close(self, data: Any = None) -> None:
        """Close the comm from the kernel side."""
        if self.closed:
            return
        self.closed = True
        self.manager.comms.pop(self.comm_id, None)
        self.manager.publish("comm_close", {"comm_id": self.comm_id, "data": data or {}}, None)

    def _dispatch(self, callbacks: list[MsgCallback], msg: dict[str, Any]) -> None:
        for callback in callbacks:
            try:
                callback(msg)
            except Exception as exc:
                self.manager.rejections.report(
                    "shell",
                    f"comm callback failed with {type(exc).__name__}",
                    f"comm {self.comm_id} callback failed",
                    logging.ERROR,
                    exc,
                )


class CommManager:
    """Targets the frontend may open comms to, and the comms that are open."""

    def __init__(self, publish: CommPublisher, rejections: RejectionLog | None = None) -> None:
        self.publish = publish
        self.rejections = rejections if rejections is not None else RejectionLog(log)
        self.targets: dict[str, Callable[[Comm, dict[str, Any]], Any]] = {}
        self.comms: dict[str, Comm] = {}

    def register_target(self, name: str, handler: Callable[[Comm, dict[str, Any]], Any]) -> None:
        """Call ``handler(comm, open_msg)`` when a frontend opens a comm to ``name``."""
        self.targets[name] = handler

    def unregister_target(self, name: str) -> None:
        self.targets.pop(name, None)

    def open(self, target_name: str, data: Any = None) -> Comm:
        """Open a comm from the kernel side to a frontend target."""
        comm = Comm(self, target_name, uuid.uuid4().hex)
        self.comms[comm.comm_id] = comm
        content = {"comm_id": comm.comm_id, "target_name": target_name, "data": data or {}}
        self.publish("comm_open", content, None)
        return comm

    def handle_open(self, msg: dict[str, Any]) -> None:
        content = msg["content"]
        comm_id, target = str(content.get("comm_id", "")), str(content.get("target_name", ""))
        handler = self.targets.get(target)
        if handler is None or not comm_id:
            self.rejections.report(
                "shell",
                "comm_open unknown target",
                f"comm_open for unknown target {target[:80]!r}: closing comm {comm_id[:80]}",
            )
            self.publish("comm_close", {"comm_id": comm_id, "data": {}}, None)
            return
        comm = self.comms[comm_id] = Comm(self, target, comm_id)
        try:
            handler(comm, msg)
        except Exception as exc:
            self.rejections.report(
                "shell",
                f"comm target failed with {type(exc).__name__}",
                f"comm target {target[:80]!r} failed to open comm {comm_id[:80]}",
                logging.ERROR,
                exc,
            )
            comm.close()

    def handle_msg(self, msg: dict[str, Any]) -> None:
        comm = self.comms.get(str(msg["content"].get("comm_id", "")))
        if comm is None:
            comm_id = str(msg["content"].get("comm_id"))[:80]
            self.rejections.report(
                "shell",
                "comm_msg unknown comm",
                f"dropped a message on shell: comm_msg for unknown comm {comm_id!r}",
            )
            return
        comm._dispatch(comm._on_msg, msg)

    def handle_close(self, msg: dict[str, Any]) -> None:
        comm = self.comms.pop(str(msg["content"].get("comm_id", "")), None)
        if comm is None:
            return
        comm.closed = True
        comm._dispatch(comm._on_close, msg)

    def info(self, target_name: str | None = None) -> dict[str, dict[str, str]]:
        """``comms`` of a ``comm_info_reply``: every open comm, or those of one target."""
        return {
            comm_id: {"target_name": comm.target_name}
            for comm_id, comm in self.comms.items()
            if not target_name or comm.target_name == target_name
        }
