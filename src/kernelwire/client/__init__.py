"""Clients for Jupyter kernels: blocking and asyncio, plus a small kernel launcher.

Both clients match replies and IOPub outputs to requests by parent ``msg_id``, bound every
wait, notice a dead kernel, and report messages refused for a wrong key.

The names below are loaded on first use: a command that needs only the launcher or the
errors (``kernelwire --help``, the CLI's start-up) does not pay for zmq and asyncio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .aio import AsyncClient
    from .blocking import BlockingClient
    from .errors import (
        ClientError,
        ExecutionError,
        KernelDied,
        KernelStartError,
        KernelTimeout,
        MessageRefused,
        SubshellError,
    )
    from .launcher import REFERENCE_KERNEL_ARGV, KernelProcess, start_kernel
    from .results import Comm, ExecutionResult
    from .router import REQUEST_TIMEOUT

#: public name -> the submodule that defines it
_LAZY = {
    "REFERENCE_KERNEL_ARGV": "launcher",
    "REQUEST_TIMEOUT": "router",
    "AsyncClient": "aio",
    "BlockingClient": "blocking",
    "ClientError": "errors",
    "Comm": "results",
    "ExecutionError": "errors",
    "ExecutionResult": "results",
    "KernelDied": "errors",
    "KernelProcess": "launcher",
    "KernelStartError": "errors",
    "KernelTimeout": "errors",
    "MessageRefused": "errors",
    "SubshellError": "errors",
    "start_kernel": "launcher",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "REFERENCE_KERNEL_ARGV",
    "REQUEST_TIMEOUT",
    "AsyncClient",
    "BlockingClient",
    "ClientError",
    "Comm",
    "ExecutionError",
    "ExecutionResult",
    "KernelDied",
    "KernelProcess",
    "KernelStartError",
    "KernelTimeout",
    "MessageRefused",
    "SubshellError",
    "start_kernel",
]
