"""Finding installed kernelspecs where Jupyter looks for them.

A kernelspec is a directory ``kernels/<name>/`` holding ``kernel.json`` (argv,
display_name, language, optional env, interrupt_mode, metadata). The search path is
``jupyter_core.paths.jupyter_path("kernels")``; the first directory that has a name wins.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

_VALID_NAME = re.compile(r"^[a-z0-9._-]+$", re.IGNORECASE)


class NoSuchKernel(LookupError):
    """No installed kernelspec has the requested name."""


class KernelSpecError(ValueError):
    """A kernelspec's ``kernel.json`` is malformed."""


@dataclass
class KernelSpec:
    """What ``kernel.json`` says, and the directory it came from."""

    #: The kernel's name: its directory's name, lower-cased.
    name: str
    #: The command line; ``{connection_file}`` is filled in at start.
    argv: list[str]
    #: The name frontends show.
    display_name: str
    #: The kernel's language.
    language: str
    #: The kernelspec's directory (logos and other files).
    resource_dir: str
    #: ``"signal"`` (SIGINT) or ``"message"`` (``interrupt_request``).
    interrupt_mode: str = "signal"
    #: Environment variables to set for the kernel.
    env: dict[str, str] = field(default_factory=dict)
    #: Anything else the kernelspec declares.
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The protocol version the kernel declares (``""`` when it does not).
    kernel_protocol_version: str = ""

    @property
    def supports_handshake(self) -> bool:
        """Whether the kernel declares protocol 5.6 or later, so it can be started with a
        registration file (the startup handshake) instead of a connection file."""
        try:
            version = tuple(int(part) for part in self.kernel_protocol_version.split(".")[:2])
        except ValueError:
            return False
        return version >= (5, 6)


def kernel_dirs() -> list[str]:
    """The directories Jupyter searches for kernelspecs, highest priority first."""
    try:
        from jupyter_core.paths import jupyter_path
    except ImportError:
        raise NoSuchKernel(
            "finding installed kernelspecs needs jupyter_core (pip install jupyter_core)"
        ) from None

    return list(jupyter_path("kernels"))


def find_kernel_specs() -> dict[str, str]:
    """Installed kernelspec names mapped to their directories (the first found wins)."""
    specs: dict[str, str] = {}
    for directory in kernel_dirs():
        try:
            entries = sorted(os.listdir(directory))
        except OSError:
            continue
        for entry in entries:
            path = os.path.join(directory, entry)
            if (
                _VALID_NAME.match(entry)
                and entry.lower() not in specs
                and os.path.isfile(os.path.join(path, "kernel.json"))
            ):
                specs[entry.lower()] = path
    return specs


def load_kernel_spec(name: str, resource_dir: str) -> KernelSpec:
    """The kernelspec in ``resource_dir``; KernelSpecError when kernel.json is malformed."""
    path = os.path.join(resource_dir, "kernel.json")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise KernelSpecError(f"kernelspec {name!r}: cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise KernelSpecError(f"kernelspec {name!r}: {path} is not a JSON object")
    argv = data.get("argv")
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
        raise KernelSpecError(f"kernelspec {name!r}: 'argv' must be a non-empty list of strings")
    env = data.get("env") or {}
    if not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
        raise KernelSpecError(f"kernelspec {name!r}: 'env' must map names to strings")
    return KernelSpec(
        name=name,
        argv=argv,
        display_name=str(data.get("display_name", name)),
        language=str(data.get("language", "")),
        resource_dir=resource_dir,
        interrupt_mode=str(data.get("interrupt_mode", "signal")),
        env=env,
        metadata=data.get("metadata") or {},
        kernel_protocol_version=str(data.get("kernel_protocol_version", "")),
    )


def get_kernel_spec(name: str) -> KernelSpec:
    """The installed kernelspec called ``name``; NoSuchKernel when there is none."""
    specs = find_kernel_specs()
    resource_dir = specs.get(name.lower())
    if resource_dir is None:
        known = ", ".join(sorted(specs)) or "none"
        raise NoSuchKernel(f"no kernelspec named {name!r} (installed: {known})")
    return load_kernel_spec(name.lower(), resource_dir)


__all__ = [
    "KernelSpec",
    "KernelSpecError",
    "NoSuchKernel",
    "find_kernel_specs",
    "get_kernel_spec",
    "kernel_dirs",
    "load_kernel_spec",
]
