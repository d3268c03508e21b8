"""The kernel's matplotlib backend: figures appear in the output area as ``image/png``.

:mod:`.integrations` makes it matplotlib's default in the kernel (``MPLBACKEND`` and
``matplotlib.use()`` still choose another), with interactive mode on. Then pyplot asks the
canvas for a redraw after every change to a figure (``draw_idle``); the canvas only notes
the figure. Once the cell has run, :func:`flush_figures` shows each noted figure that is
still open, once, and closes it, so the next cell starts a new figure, as with ipykernel's
inline backend. ``plt.show()`` shows every open figure at once and closes them;
``fig.show()`` shows that one figure at once. A figure rendered since its last change
(``fig`` as the cell's last expression, ``display(fig)``) is not shown again at the end.

Images are rendered at the figure's own dpi and trimmed to what is drawn
(``bbox_inches="tight"``), which is what ipykernel's inline backend shows.
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .display import display

#: The figures changed during the running cell (in the order of their first change), each
#: with whether it was rendered since its last change.
_changed: dict[Figure, bool] = {}


def figure_png(figure: Figure) -> bytes | None:
    """The PNG of ``figure`` as the output area shows it; None when nothing is drawn on it
    (its background patch is its only child), as IPython gives no image then."""
    if len(figure.get_children()) <= 1:
        return None
    buffer = io.BytesIO()
    figure.canvas.print_figure(
        buffer,
        format="png",
        dpi=figure.dpi,
        facecolor=figure.get_facecolor(),
        edgecolor=figure.get_edgecolor(),
        bbox_inches="tight",
    )
    # Noted after rendering: restoring the figure's size at the end of print_figure marks
    # it stale, which must not count as a change.
    if figure in _changed:
        _changed[figure] = True
    return buffer.getvalue()


def _open_figures() -> list[Figure]:
    return [manager.canvas.figure for manager in Gcf.get_all_fig_managers()]


class FigureManager(FigureManagerBase):
    """Shows figures as display_data instead of in windows."""

    def show(self) -> None:
        """``fig.show()``: display the figure now."""
        display(self.canvas.figure)

    @classmethod
    def pyplot_show(cls, *, block: Any = None) -> None:
        """``plt.show()``: display every open figure now and close them (``block`` is
        accepted for pyplot's signature; nothing here blocks)."""
        figures = _open_figures()
        try:
            for figure in figures:
                display(figure)
        finally:  # after an error or an interrupt too: they must not show again later
            for figure in figures:
                Gcf.destroy_fig(figure)


class FigureCanvas(FigureCanvasAgg):
    """An Agg canvas that defers drawing to the end of the cell."""

    manager_class = FigureManager

    def draw_idle(self, *args: Any, **kwargs: Any) -> None:
        """pyplot calls this after each change in interactive mode: note the figure for
        :func:`flush_figures` (rendering at every change would be wasted work)."""
        _changed[self.figure] = False


def flush_figures() -> None:
    """After a cell: show each figure changed in it, still open and not rendered since its
    last change; close every figure changed in it."""
    if not _changed:
        return
    still_open = set(_open_figures())
    changed = [figure for figure in _changed if figure in still_open]
    unseen = [figure for figure in changed if not _changed[figure]]
    try:
        for figure in unseen:
            display(figure)
    finally:
        for figure in changed:
            Gcf.destroy_fig(figure)
        _changed.clear()
