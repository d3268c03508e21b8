"""Rich display: turning objects into MIME bundles, and ``display()``/``clear_output()``.

Objects describe themselves with IPython's protocol (``_repr_mimebundle_`` and the
``_repr_<format>_`` methods); any code written for Jupyter's rich output works unchanged.
Types that cannot be changed (a library's classes) get formats with
``register_formatter``. The functions here publish through whatever the running kernel
installed with ``set_publisher``, so user modules can
``from kernelwire.kernel.display import display``. Work that must follow every cell (showing
the figures a cell drew) is registered with ``add_after_cell`` and run by the kernel
through ``run_after_cell``.
"""

from __future__ import annotations

import base64
import functools
import sys
import traceback
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from ..protocol import is_binary_mime

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

Bundle = dict[str, Any]
Publisher = Callable[[str, dict[str, Any]], None]
Formatter = Callable[[Any], Any]

_publisher: Publisher | None = None
#: ``"module.QualName"`` of a class -> {MIME type: function giving that format (or None)}.
#: Keyed by name so that registering costs no import of the class's library.
_type_formatters: dict[str, dict[str, Formatter]] = {}
_after_cell: list[Callable[[], None]] = []


def set_publisher(publisher: Publisher | None) -> None:
    """Route ``display``/``clear_output`` to ``publisher(msg_type, content)`` (the kernel)."""
    global _publisher
    _publisher = publisher


def _publish(msg_type: str, content: dict[str, Any]) -> None:
    if _publisher is None:
        raise RuntimeError("display() needs a running kernelwire kernel")
    _publisher(msg_type, content)


def register_formatter(class_name: str, mime: str, formatter: Formatter) -> None:
    """Give instances of the class named ``class_name`` (``"module.QualName"``, subclasses
    included) the format ``mime``: ``formatter(obj)`` returns its data, or None for none.
    It takes precedence over the object's own ``_repr_<format>_`` method, as in IPython.
    ``mime`` is one of the types in ``REPR_METHODS`` (``text/plain`` always comes from repr)."""
    if mime not in {repr_mime for _, repr_mime in REPR_METHODS}:
        raise ValueError(f"no formatter can be registered for {mime!r}")
    _type_formatters.setdefault(class_name, {})[mime] = formatter


def unregister_formatter(class_name: str, mime: str) -> None:
    """Undo ``register_formatter`` (nothing happens when it was not registered)."""
    formatters = _type_formatters.get(class_name, {})
    formatters.pop(mime, None)
    if not formatters:
        _type_formatters.pop(class_name, None)


def _type_formatters_for(obj: Any) -> dict[str, Formatter]:
    """The registered formatters that apply to ``obj`` (a subclass's win over its base's)."""
    found: dict[str, Formatter] = {}
    if not _type_formatters:
        return found
    for cls in reversed(type(obj).__mro__):
        found.update(_type_formatters.get(f"{cls.__module__}.{cls.__qualname__}", {}))
    return found


def add_after_cell(callback: Callable[[], None]) -> None:
    """Run ``callback()`` after every cell (see ``run_after_cell``)."""
    _after_cell.append(callback)


def remove_after_cell(callback: Callable[[], None]) -> None:
    """Undo ``add_after_cell`` (nothing happens when it was not added)."""
    if callback in _after_cell:
        _after_cell.remove(callback)


def run_after_cell() -> None:
    """Called by the kernel once a cell's code has run (ended by an error too). A failing
    callback is reported on stderr and does not stop the others; KeyboardInterrupt (the
    user interrupting a slow one) propagates, so the cell reports it."""
    for callback in list(_after_cell):
        try:
            callback()
        except Exception:
            print(f"after-cell callback {callback!r} failed:", file=sys.stderr)
            traceback.print_exc(file=sys.stderr)


def _wire_value(mime: str, value: Any) -> Any:
    """A repr method's result as it goes on the wire (bytes are base64 for binary types)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if is_binary_mime(mime):
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
    by_type = _type_formatters_for(obj)
    for method, mime in REPR_METHODS if rich else ():
        if mime in data:
            continue
        registered = by_type.get(mime)
        if registered is not None:
            produce: Callable[[], Any] = functools.partial(registered, obj)
        elif callable(getattr(obj, method, None)):
            produce = getattr(obj, method)
        else:
            continue
        try:
            value = produce()
        except Exception:
            _warn_repr_failed(obj, method if registered is None else f"the {mime} formatter")
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
    clear: bool = False,
) -> DisplayHandle | None:
    """Publish each object as ``display_data`` (``update_display_data`` with ``update``).

    The signature is IPython's, so this also serves as ``IPython.display.display`` in the
    kernel. ``raw=True`` takes each object as a ready MIME bundle. ``display_id=True`` makes
    a new id; with an id, a ``DisplayHandle`` is returned for later updates, and with
    no object an empty output area is made for them to fill. ``clear`` clears the output
    area first (when the new output arrives). Objects with an ``_ipython_display_`` method
    display themselves.
    """
    if update and not display_id:
        raise TypeError("display(update=True) needs a display_id")
    if display_id is True:
        display_id = uuid.uuid4().hex
    transient = dict(transient or {})
    if display_id:
        transient["display_id"] = display_id
    if not objs and display_id:
        objs, raw = ({},), True
    if clear:
        clear_output(wait=True)
    msg_type = "update_display_data" if update else "display_data"
    for obj in objs:
        data: Bundle
        md: Bundle = {}
        if raw:
            data = dict(obj)
        elif _displays_itself(obj):
            continue
        else:
            data, md = format_object(obj, include, exclude)
            if not data:
                continue
        if metadata:
            md.update(metadata)
        _publish(msg_type, {"data": data, "metadata": md, "transient": transient})
    return DisplayHandle(display_id) if isinstance(display_id, str) else None


def _displays_itself(obj: Any) -> bool:
    """Call ``obj._ipython_display_()`` if it has one (IPython's protocol for objects that
    publish their own output); True when it did."""
    method = None if isinstance(obj, type) else getattr(obj, "_ipython_display_", None)
    if not callable(method):
        return False
    method()
    return True


def update_display(obj: Any, *, display_id: str, **kwargs: Any) -> None:
    """Replace what the output areas of ``display_id`` show with ``obj``."""
    display(obj, display_id=display_id, update=True, **kwargs)


def publish_display_data(
    data: Bundle,
    metadata: Bundle | None = None,
    source: Any = None,
    *,
    transient: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Publish a ready MIME bundle (IPython's function of that name; ``source`` is
    accepted and ignored, as IPython does)."""
    display(data, raw=True, metadata=metadata, transient=transient, **kwargs)


def clear_output(wait: bool = False) -> None:
    """Clear the output area of the running cell (``wait``: when new output arrives)."""
    _publish("clear_output", {"wait": bool(wait)})


__all__ = [
    "REPR_METHODS",
    "DisplayHandle",
    "add_after_cell",
    "clear_output",
    "display",
    "format_object",
    "publish_display_data",
    "register_formatter",
    "remove_after_cell",
    "run_after_cell",
    "set_publisher",
    "unregister_formatter",
    "update_display",
]
