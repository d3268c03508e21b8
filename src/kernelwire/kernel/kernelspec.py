"""Installing the kernelspec that lets Jupyter start this kernel.

Where it goes comes from ``jupyter_core.paths`` (the user data dir, ``<prefix>/share/
jupyter``, the environment's, or the system's), the same places Jupyter searches.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

from .._version import kernel_protocol_version

DEFAULT_NAME = "kernelwire"
#: The kernel names Jupyter accepts.
_VALID_NAME = re.compile(r"[a-z0-9._-]+", re.IGNORECASE)


def kernel_json(display_name: str = "Python 3 (kernelwire)") -> dict[str, Any]:
    """The kernel.json content: this interpreter running ``-m kernelwire.kernel``."""
    return {
        "argv": [sys.executable, "-m", "kernelwire.kernel", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        "interrupt_mode": "signal",
        # 5.6: it can be started with a registration file (the startup handshake)
        "kernel_protocol_version": kernel_protocol_version,
        "metadata": {
            "debugger": False,
            "implementation": "kernelwire",
            # jupyter_client's KernelManager(transport_encryption=...) reads this
            "supported_encryption": ["curve"],
        },
    }


def data_dir(user: bool = False, prefix: str | None = None, sys_prefix: bool = False) -> str:
    """The Jupyter data directory to install into, as Jupyter itself names it."""
    from jupyter_core import paths

    if prefix:
        return os.path.join(os.path.abspath(prefix), "share", "jupyter")
    if user:
        return str(paths.jupyter_data_dir())
    if sys_prefix:
        return str(paths.ENV_JUPYTER_PATH[0])
    return str(paths.SYSTEM_JUPYTER_PATH[0])


def install(
    name: str = DEFAULT_NAME,
    user: bool = False,
    prefix: str | None = None,
    sys_prefix: bool = False,
    display_name: str | None = None,
) -> str:
    """Write ``kernels/<name>/kernel.json``; returns the kernelspec directory."""
    if not _VALID_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(
            f"invalid kernel name {name!r}: use letters, digits, '.', '_' and '-' only"
        )
    spec_dir = os.path.join(data_dir(user, prefix, sys_prefix), "kernels", name.lower())
    os.makedirs(spec_dir, exist_ok=True)
    spec = kernel_json(display_name or f"Python 3 ({name})")
    with open(os.path.join(spec_dir, "kernel.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f, indent=1)
    return spec_dir
