"""Rich display: turning objects into MIME bundles, and ``display()``/``clear_output()``.

Objects describe themselves with IPython's protocol (``_repr_mimebundle_`` and the
``_repr_<format>_`` methods); any code written for Jupyter's rich output works unchanged.
The functions here publish through whatever the running kernel installed with
:func:`set_publisher`, so user modules can ``from kernelwire.kernel.display import display``.
"""

from __future__ import annotations

import base64
import sys
import traceback
import uuid
from collections.abc import Callable, Iterable
from typing import Any

#: ``_repr_<format>_`` methods and the MIME type each produces, in display priority order.
REPR_METHODS = (
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
    ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"),
    ("_repr_javascript_", "application/javascript"),
    ("_repr_pdf_", "application/pdf"),
)
#: MIME types whose data is binary: bytes become base64 text on the wire.
BINARY_MIMES = frozenset({"image/png", "image/jpeg", "application/pdf"})

Bundle = dict[str, Any]
Publisher = Callable[[str, dict[str, Any]], None]

_publisher: Publisher | None = None


def set_publisher(publisher: Publisher | None) -> None:
    """Route ``display``/``clear_output`` to ``publisher(msg_type, content)`` (the kernel)."""
    global _publisher
    _publisher = publisher


def _publish(msg_type: str, content: dict[str, Any]) -> None:
    if _publisher is None:
        raise RuntimeError("display() needs a running kernelwire kernel")
    _publisher(msg_type, content)


def _wire_value(mime: str, value: Any) -> Any:
    """A repr method's result as it goes on the wire (bytes are base64 for binary types)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if mime in BINARY_MIMES:
            return base64.b64encode(raw).decode("ascii")
        return raw.decode("utf-8", "replace")
    return value


def _warn_repr_failed(obj: Any, method: str) -> None:
    """A broken repr method must not hide the other formats: report it on stderr."""
    print(
        f"{method} of {type(obj).__name__} object raised:\n{traceback.format_exc()}",
        file=sys.stderr,
    )


def _filtered(keys: Iterable[str], include: Any, exclude: Any) -> set[str]:
    chosen = set(keys)
    if include:
        chosen &= set(include)
    if exclude:
        chosen -= set(exclude)
    return chosen


def format_object(obj: Any, include: Any = None, exclude: Any = None) -> tuple[Bundle, Bundle]:
    """``(data, metadata)`` for ``obj``: ``_repr_mimebundle_`` first, then each
    ``_repr_<format>_`` for the types it did not give, and ``text/plain`` from ``repr``."""
    data: Bundle = {}
    metadata: Bundle = {}
    rich = not isinstance(obj, type)  # a class's repr methods are unbound functions
    if rich and callable(getattr(obj, "_repr_mimebundle_", None)):
        try:
            bundle = obj._repr_mimebundle_(include=include, exclude=exclude)
        except Exception:
            _warn_repr_failed(obj, "_repr_mimebundle_")
            bundle = None
        if isinstance(bundle, tuple) and len(bundle) == 2:
            bundle, bundle_md = bundle
            metadata.update(bundle_md or {})
        if isinstance(bundle, dict):
            data.update({mime: _wire_value(mime, v) for mime, v in bundle.items()})
    for method, mime in REPR_METHODS if rich else ():
        if mime in data or not callable(getattr(obj, method, None)):
            continue
        try:
            value = getattr(obj, method)()
        except Exception:
            _warn_repr_failed(obj, method)
            continue
        if isinstance(value, tuple) and len(value) == 2:
            value, value_md = value
            if value_md:
                metadata[mime] = value_md
        if value is not None:
            data[mime] = _wire_value(mime, value)
    if "text/plain" not in data:
        try:
            data["text/plain"] = repr(obj)
        except Exception:
            _warn_repr_failed(obj, "__repr__")
            data["text/plain"] = f"<{type(obj).__name__} object (repr failed)>"
    keep = _filtered(data, include, exclude)
    return (
        {mime: v for mime, v in data.items() if mime in keep},
        {k: v for k, v in metadata.items() if k in keep or "/" not in k},
    )


class DisplayHandle:
    """A handle on one display area (a ``display_id``): show or update what it holds."""

    def __init__(self, display_id: str | None = None) -> None:
        self.display_id = display_id or uuid.uuid4().hex

    def __repr__(self) -> str:
        return f"<{type(self).__name__} display_id={self.display_id}>"

    def display(self, obj: Any, **kwargs: Any) -> None:
        """Show ``obj`` in a new output area tied to this handle."""
        display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj: Any, **kwargs: Any) -> None:
        """Replace what every output area tied to this handle shows."""
        display(obj, display_id=self.display_id, update=True, **kwargs)


def display(
    *objs: Any,
    raw: bool = False,
    include: Any = None,
    exclude: Any = None,
    metadata: dict[str, Any] | None = None,
    transient: dict[str, Any] | None = None,
    display_id: str | bool | None = None,
    update: bool = False,
) -> DisplayHandle | None:
    """Publish each object as ``display_data`` (``update_display_data`` with ``update``).

    ``raw=True`` takes each object as a ready MIME bundle. ``display_id=True`` makes a new
    id; with an id, a :class:`DisplayHandle` is returned for later updates.
    """
    if update and not display_id:
        raise TypeError("display(update=True) needs a display_id")
    if display_id is True:
        display_id = uuid.uuid4().hex
    transient = dict(transient or {})
    if display_id:
        transient["display_id"] = display_id
    msg_type = "update_display_data" if update else "display_data"
    for obj in objs:
        data: Bundle
        md: Bundle = {}
        if raw:
            data = dict(obj)
        else:
            data, md = format_object(obj, include, exclude)
        if not data:
            continue
        if metadata:
            md.update(metadata)
        _publish(msg_type, {"data": data, "metadata": md, "transient": transient})
    return DisplayHandle(display_id) if isinstance(display_id, str) else None


def clear_output(wait: bool = False) -> None:
    """Clear the output area of the running cell (``wait``: when new output arrives)."""
    _publish("clear_output", {"wait": bool(wait)})


__all__ = [
    "BINARY_MIMES",
    "REPR_METHODS",
    "DisplayHandle",
    "clear_output",
    "display",
    "format_object",
    "set_publisher",
]
