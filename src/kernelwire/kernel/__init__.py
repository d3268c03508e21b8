"""The kernelwire reference kernel: a small Python kernel on kernelwire's Session.

Start it with ``python -m kernelwire.kernel -f CONNECTION_FILE``; install its kernelspec
with ``python -m kernelwire.kernel install [--user | --prefix P | --sys-prefix]``.
"""

from __future__ import annotations

from .display import DisplayHandle, clear_output, display, format_object
from .kernel import Kernel, get_kernel
from .stdin import StdinNotImplementedError

__all__ = [
    "DisplayHandle",
    "Kernel",
    "StdinNotImplementedError",
    "clear_output",
    "display",
    "format_object",
    "get_kernel",
]
