"""Process-wide set-up for the display libraries people use, in one place, undone on exit.

- matplotlib: figures get an ``image/png`` format; when matplotlib is imported, the
  kernel's inline backend (:mod:`.backend_inline`) becomes the default backend and
  interactive mode is turned on, unless ``MPLBACKEND`` names another backend (a later
  ``matplotlib.use()`` wins as usual). This ranks above a matplotlibrc's ``backend``, as
  ipykernel's default does. Unlike ipykernel, ``MPLBACKEND`` is not set in the environment,
  so programs the user starts from the kernel keep matplotlib's usual default.
- IPython: ``IPython.display``'s ``display``, ``update_display``, ``publish_display_data``
  and ``clear_output`` become this kernel's (:mod:`.display`). Without an IPython shell,
  IPython's own functions only print reprs; IPython's ``DisplayHandle`` and display objects
  call them, so they publish through the kernel too.

Neither library is imported for this: the kernel's start-up stays as fast, and each change
is applied by an import hook right after the library's own module has run.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from .display import (
    add_after_cell,
    clear_output,
    display,
    publish_display_data,
    register_formatter,
    remove_after_cell,
    unregister_formatter,
    update_display,
)

log = logging.getLogger("kernelwire.kernel")

BACKEND_MODULE = "kernelwire.kernel.backend_inline"
#: The kernel's matplotlib backend, as ``MPLBACKEND`` or ``matplotlib.use()`` name it.
BACKEND = f"module://{BACKEND_MODULE}"
_FIGURE_CLASS = "matplotlib.figure.Figure"
_MATPLOTLIB_NEEDED = (3, 7)
_IPYTHON_DISPLAY_MODULE = "IPython.core.display_functions"
_IPYTHON_REPLACEMENTS: dict[str, Callable[..., Any]] = {
    "display": display,
    "update_display": update_display,
    "publish_display_data": publish_display_data,
    "clear_output": clear_output,
}

ModuleHook = Callable[[ModuleType], None]


class _NotifyingLoader:
    """Wraps a module's own loader to call ``hook(module)`` once the module has run."""

    def __init__(self, loader: Any, hook: ModuleHook) -> None:
        self._loader = loader
        self._hook = hook

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        # The module keeps its own loader (importlib.resources and friends ask it).
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _run_hook(self._hook, module)


class _ImportWatcher:
    """A ``sys.meta_path`` finder that finds nothing itself: for a watched module name it
    asks the other finders and wraps the loader they give (see :class:`_NotifyingLoader`)."""

    def __init__(self, hooks: dict[str, ModuleHook]) -> None:
        self.hooks = hooks

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: Any = None) -> Any:
        hook = self.hooks.get(fullname)
        if hook is None:
            return None
        for finder in sys.meta_path:
            find = None if finder is self else getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _NotifyingLoader(spec.loader, hook)
                return spec
        return None


def _run_hook(hook: ModuleHook, module: ModuleType) -> None:
    """A failing set-up must not make the user's import fail: it is logged instead."""
    try:
        hook(module)
    except Exception:
        log.warning("setting up %s for the kernel failed", module.__name__, exc_info=True)


def _figure_png(figure: Any) -> bytes | None:
    from . import backend_inline  # matplotlib is loaded: a figure exists

    return backend_inline.figure_png(figure)


def _flush_figures() -> None:
    backend = sys.modules.get(BACKEND_MODULE)
    if backend is not None:
        backend.flush_figures()


class DisplayIntegrations:
    """The process-wide changes for rich display; :meth:`uninstall` undoes each one."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def install(self) -> None:
        register_formatter(_FIGURE_CLASS, "image/png", _figure_png)
        self._undo.append(lambda: unregister_formatter(_FIGURE_CLASS, "image/png"))
        add_after_cell(_flush_figures)
        self._undo.append(lambda: remove_after_cell(_flush_figures))
        watcher = _ImportWatcher(
            {"matplotlib": self._setup_matplotlib, _IPYTHON_DISPLAY_MODULE: self._patch_ipython}
        )
        sys.meta_path.insert(0, watcher)
        self._undo.append(lambda: sys.meta_path.remove(watcher))
        for name, hook in watcher.hooks.items():
            if name in sys.modules:  # imported before the kernel started (sitecustomize...)
                _run_hook(hook, sys.modules[name])

    def uninstall(self) -> None:
        while self._undo:
            undo = self._undo.pop()
            try:
                undo()
            except Exception:
                log.warning("undoing a display set-up failed", exc_info=True)

    def _setup_matplotlib(self, matplotlib: ModuleType) -> None:
        """Make the inline backend the default, unless the user's MPLBACKEND chose another
        (matplotlib has applied it already) or matplotlib is too old for it."""
        if os.environ.get("MPLBACKEND", BACKEND) != BACKEND:
            return
        if matplotlib.__version_info__ < _MATPLOTLIB_NEEDED:  # the backend API we implement
            log.info("matplotlib older than 3.7: the kernel's inline backend is not used")
            return
        rc = matplotlib.rcParams
        previous_backend = rc._get("backend")  # maybe matplotlib's "choose later" marker
        was_interactive = matplotlib.is_interactive()
        rc["backend"] = BACKEND
        matplotlib.interactive(True)

        def undo() -> None:
            if rc._get("backend") == BACKEND:  # else the user chose a backend since
                pyplot = sys.modules.get("matplotlib.pyplot")
                if pyplot is not None:  # it may have loaded ours, which needs the kernel
                    pyplot.switch_backend("agg")
                else:
                    rc._set("backend", previous_backend)
            matplotlib.interactive(was_interactive)

        self._undo.append(undo)

    def _patch_ipython(self, display_functions: ModuleType) -> None:
        originals = {name: getattr(display_functions, name) for name in _IPYTHON_REPLACEMENTS}
        # IPython.display copies the functions (``import *``); it is loaded after this
        # module unless IPython was imported before the kernel started.
        modules = [display_functions, sys.modules.get("IPython.display")]
        for module in filter(None, modules):
            for name, replacement in _IPYTHON_REPLACEMENTS.items():
                setattr(module, name, replacement)

        def undo() -> None:
            for module in filter(None, [display_functions, sys.modules.get("IPython.display")]):
                for name, replacement in _IPYTHON_REPLACEMENTS.items():
                    if getattr(module, name, None) is replacement:
                        setattr(module, name, originals[name])

        self._undo.append(undo)


def install_display_integrations() -> DisplayIntegrations:
    """Apply the set-up (see the module's docstring); call ``uninstall()`` on the result
    when the kernel stops."""
    integrations = DisplayIntegrations()
    integrations.install()
    return integrations
