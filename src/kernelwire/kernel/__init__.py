"""The kernelwire reference kernel, and the base class for kernels in other languages.

Start the reference kernel with ``python -m kernelwire.kernel -f CONNECTION_FILE``; install
its kernelspec with ``python -m kernelwire.kernel install [--user | --prefix P |
--sys-prefix]``. Write your own kernel by subclassing :class:`KernelBase` and serving it
with :func:`launch` (see the wrapper kernels guide).
"""

from __future__ import annotations

from .base import KernelBase, get_kernel
from .display import DisplayHandle, clear_output, display, format_object
from .kernel import Kernel, PythonKernel
from .launch import launch
from .stdin import StdinNotImplementedError

__all__ = [
    "DisplayHandle",
    "Kernel",
    "KernelBase",
    "PythonKernel",
    "StdinNotImplementedError",
    "clear_output",
    "display",
    "format_object",
    "get_kernel",
    "launch",
]
