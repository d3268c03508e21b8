"""Clients for Jupyter kernels: blocking and asyncio, plus a small kernel launcher.

Both clients match replies and IOPub outputs to requests by parent ``msg_id``, bound every
wait, notice a dead kernel, and report messages refused for a wrong key.
"""

from __future__ import annotations

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
