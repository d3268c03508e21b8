"""Rich display in the reference kernel, driven by jupyter_client: matplotlib figures as
``image/png`` display_data through the kernel's inline backend, and ``IPython.display``
objects published through the kernel.

Each kernel is a real process started by jupyter_client's KernelManager; ipykernel (with
matplotlib_inline) runs the same cells where the two must agree. Images are checked by
decoding the PNG header, never by comparing against stored bytes. Every wait has a timeout
that only turns a hang into a failure.
"""

from __future__ import annotations

import base64
import io
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from helpers import install_reference_kernelspec, start_managed_kernel, stop_managed_kernel

KERNEL_NAME = "kernelwire-display-tests"
TIMEOUT = 60
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMPORT_PLT = "import matplotlib.pyplot as plt\n"

Kernel = tuple[KernelManager, BlockingKernelClient]


def _env(**extra: str) -> dict[str, str]:
    """The test process's environment without a matplotlib backend choice (CI often sets
    MPLBACKEND), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return install_reference_kernelspec(tmp_path_factory.mktemp("spec"), KERNEL_NAME)


def _start(kernel_name: str, env: dict[str, str], spec_dir: str | None = None) -> Kernel:
    return start_managed_kernel(kernel_name, spec_dir, TIMEOUT, env=env)


_stop = stop_managed_kernel


@pytest.fixture(scope="module")
def kernel(spec_dir: str) -> Iterator[Kernel]:
    started = _start(KERNEL_NAME, _env(), spec_dir)
    yield started
    _stop(started)


@pytest.fixture
def kc(kernel: Kernel) -> BlockingKernelClient:
    return kernel[1]


def execute(kc: BlockingKernelClient, code: str) -> tuple[str, list[dict[str, Any]]]:
    """Run one cell: the reply's status and the cell's IOPub output messages in order
    (status and execute_input left out)."""
    msg_id = kc.execute(code)
    outputs: list[dict[str, Any]] = []
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        if msg["msg_type"] not in ("status", "execute_input"):
            outputs.append(msg)
    while True:
        reply = kc.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            return str(reply["content"]["status"]), outputs


def _of_type(outputs: list[dict[str, Any]], msg_type: str) -> list[dict[str, Any]]:
    return [m["content"] for m in outputs if m["msg_type"] == msg_type]


def png_size(b64_data: str) -> tuple[int, int]:
    """Width and height from a base64 PNG's IHDR chunk (which must come first)."""
    raw = base64.b64decode(b64_data, validate=True)
    assert raw[:8] == PNG_SIGNATURE
    length, chunk_type = struct.unpack(">I4s", raw[8:16])
    assert (length, chunk_type) == (13, b"IHDR")
    width, height = struct.unpack(">II", raw[16:24])
    return width, height


def _expected_size(figsize: tuple[float, float], dpi: int, values: list[int]) -> tuple[int, int]:
    """The size a notebook shows for ``plot(values)`` on such a figure: rendered here with
    matplotlib's Agg at the figure's dpi, trimmed to its content (what ipykernel shows)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, dpi=dpi)
    figure.add_subplot().plot(values)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return png_size(base64.b64encode(buffer.getvalue()).decode())


def _png_displays(outputs: list[dict[str, Any]]) -> list[tuple[int, int]]:
    sizes = []
    for content in _of_type(outputs, "display_data"):
        assert content["data"]["text/plain"].startswith("<Figure size")
        sizes.append(png_size(content["data"]["image/png"]))
    return sizes


# ----------------------------------------------------------------------------- start-up


def test_start_up_imports_neither_matplotlib_nor_ipython(spec_dir: str) -> None:
    kernel = _start(KERNEL_NAME, _env(), spec_dir)
    try:
        _, outputs = execute(
            kernel[1], "import sys\n[m for m in ('matplotlib', 'IPython') if m in sys.modules]"
        )
    finally:
        _stop(kernel)
    assert _of_type(outputs, "execute_result")[0]["data"]["text/plain"] == "[]"


# ----------------------------------------------------------------------------- matplotlib


def test_plot_without_show_gives_one_png_at_cell_end(kc: BlockingKernelClient) -> None:
    status, outputs = execute(
        kc, IMPORT_PLT + "plt.figure(figsize=(4, 3), dpi=50)\nplt.plot([1, 3, 2])"
    )
    assert status == "ok"
    assert [m["msg_type"] for m in outputs] == ["execute_result", "display_data"]
    assert _png_displays(outputs) == [_expected_size((4, 3), 50, [1, 3, 2])]
    # shown figures are closed: the next cell shows nothing and starts afresh
    _, outputs = execute(kc, "len(plt.get_fignums())")
    assert [m["msg_type"] for m in outputs] == ["execute_result"]
    assert outputs[0]["content"]["data"]["text/plain"] == "0"


def test_default_backend_is_the_kernels(kc: BlockingKernelClient) -> None:
    _, outputs = execute(kc, "import matplotlib\nmatplotlib.get_backend()")
    backend = _of_type(outputs, "execute_result")[0]["data"]["text/plain"]
    assert backend == repr("module://kernelwire.kernel.backend_inline")


def test_show_displays_at_once(kc: BlockingKernelClient) -> None:
    _, outputs = execute(
        kc,
        IMPORT_PLT + "plt.plot([1]); plt.show(); print('after show')\nplt.plot([2]); plt.plot([3])",
    )
    kinds = [m["msg_type"] for m in outputs]
    assert kinds == ["display_data", "stream", "execute_result", "display_data"]
    assert outputs[1]["content"]["text"] == "after show\n"
    assert len(_png_displays(outputs)) == 2


def test_figure_as_last_expression_shows_once(kc: BlockingKernelClient) -> None:
    code = IMPORT_PLT + "fig, ax = plt.subplots(figsize=(3, 3), dpi=40)\nax.plot([4, 5])\nfig"
    _, outputs = execute(kc, code)
    assert [m["msg_type"] for m in outputs] == ["execute_result"]
    expected = _expected_size((3, 3), 40, [4, 5])
    assert png_size(outputs[0]["content"]["data"]["image/png"]) == expected
    assert outputs[0]["content"]["data"]["text/plain"].startswith("<Figure size")
    # closed at the end of its cell, still shown when asked for
    _, outputs = execute(kc, "print(len(plt.get_fignums()))\nfig")
    assert [m["msg_type"] for m in outputs] == ["stream", "execute_result"]
    assert outputs[0]["content"]["text"] == "0\n"
    assert png_size(outputs[1]["content"]["data"]["image/png"]) == expected


def test_figure_changed_after_display_is_shown_again(kc: BlockingKernelClient) -> None:
    _, outputs = execute(
        kc,
        IMPORT_PLT + "from IPython.display import display\n"
        "fig, ax = plt.subplots()\nax.plot([1])\ndisplay(fig)\nax.plot([2])",
    )
    assert len(_png_displays(outputs)) == 2
    _, outputs = execute(
        kc,
        IMPORT_PLT + "from IPython.display import display\n"
        "fig, ax = plt.subplots()\nax.plot([1])\ndisplay(fig)",
    )
    assert len(_png_displays(outputs)) == 1


def test_figure_show_displays_that_figure(kc: BlockingKernelClient) -> None:
    _, outputs = execute(
        kc, IMPORT_PLT + "f = plt.figure()\nf.add_subplot().plot([1])\nf.show()\nprint('shown')"
    )
    assert [m["msg_type"] for m in outputs] == ["display_data", "stream"]
    assert len(_png_displays(outputs)) == 1


def test_interactive_off_leaves_showing_to_the_user(kc: BlockingKernelClient) -> None:
    _, outputs = execute(kc, IMPORT_PLT + "plt.ioff()\nplt.plot([1]);")
    assert outputs == []
    _, outputs = execute(kc, "plt.show()\nplt.ion()")
    assert len(_png_displays(outputs)) == 1


def test_figure_that_fails_to_render_is_reported_and_closed(kc: BlockingKernelClient) -> None:
    status, outputs = execute(kc, IMPORT_PLT + "plt.plot([1])\nplt.title('$\\\\frac{$')")
    assert status == "ok"
    displays = _of_type(outputs, "display_data")
    assert len(displays) == 1
    assert "image/png" not in displays[0]["data"]  # the text/plain alternative remains
    stderr = "".join(c["text"] for c in _of_type(outputs, "stream") if c["name"] == "stderr")
    assert "image/png formatter" in stderr
    assert "ValueError" in stderr
    _, outputs = execute(kc, "len(plt.get_fignums())")
    assert outputs[0]["content"]["data"]["text/plain"] == "0"


def test_figures_shown_after_an_error_in_the_cell(kc: BlockingKernelClient) -> None:
    status, outputs = execute(kc, IMPORT_PLT + "plt.plot([1])\n1 / 0")
    assert status == "error"
    assert sorted(m["msg_type"] for m in outputs) == ["display_data", "error"]
    assert len(_png_displays(outputs)) == 1


SLOW_TO_DRAW = """
import time
from matplotlib.artist import Artist
class SlowToDraw(Artist):
    def draw(self, renderer):
        print('drawing', flush=True)
        time.sleep(600)
plt.figure().add_artist(SlowToDraw())
"""


def test_interrupt_while_figures_render(kernel: Kernel) -> None:
    km, kc = kernel
    msg_id = kc.execute(IMPORT_PLT + SLOW_TO_DRAW)
    while True:  # the cell's code is done once the figure is being drawn
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            assert msg["content"]["text"] == "drawing\n"
            break
    km.interrupt_kernel()
    while True:
        reply = kc.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    _, outputs = execute(kc, "len(plt.get_fignums())")  # closed: not drawn again
    assert _of_type(outputs, "execute_result")[0]["data"]["text/plain"] == "0"


# ------------------------------------------------------------------------ IPython.display


def test_ipython_display_objects_are_published(kc: BlockingKernelClient) -> None:
    png = base64.b64encode(_png_bytes()).decode()
    _, outputs = execute(
        kc,
        "import base64\nfrom IPython.display import HTML, Image, Markdown, display\n"
        f"display(HTML('<b>x</b>'))\ndisplay(Markdown('*m*'))\n"
        f"display(Image(data=base64.b64decode({png!r})))",
    )
    assert [m["msg_type"] for m in outputs] == ["display_data"] * 3
    html, markdown, image = (m["content"]["data"] for m in outputs)
    assert html == {"text/html": "<b>x</b>", "text/plain": "<IPython.core.display.HTML object>"}
    assert markdown["text/markdown"] == "*m*"
    assert markdown["text/plain"] == "<IPython.core.display.Markdown object>"
    assert image["image/png"] == png
    assert png_size(image["image/png"]) == (3, 2)
    assert image["text/plain"] == "<IPython.core.display.Image object>"


def _png_bytes() -> bytes:
    from matplotlib.figure import Figure

    buffer = io.BytesIO()
    Figure(figsize=(3, 2), dpi=1).savefig(buffer, format="png", dpi=1)
    return buffer.getvalue()


def test_ipython_display_handles_update(kc: BlockingKernelClient) -> None:
    _, outputs = execute(
        kc,
        "from IPython.display import HTML, display, update_display\n"
        "h = display(HTML('a'), display_id=True)\nh.update(HTML('b'))\n"
        "update_display(HTML('c'), display_id=h.display_id)\n"
        "empty = display(display_id='slot')",
    )
    kinds = [m["msg_type"] for m in outputs]
    assert kinds == ["display_data", "update_display_data", "update_display_data", "display_data"]
    contents = [m["content"] for m in outputs]
    ids = {c["transient"]["display_id"] for c in contents[:3]}
    assert len(ids) == 1
    assert [c["data"]["text/html"] for c in contents[:3]] == ["a", "b", "c"]
    assert contents[3] == {"data": {}, "metadata": {}, "transient": {"display_id": "slot"}}


def test_ipython_clear_output_and_raw_bundles(kc: BlockingKernelClient) -> None:
    _, outputs = execute(
        kc,
        "from IPython.display import clear_output, display, publish_display_data\n"
        "clear_output()\nprint('x')\nclear_output(wait=True)\n"
        "publish_display_data({'text/plain': 'raw'}, {'k': 1})\n"
        "display('y', clear=True)",
    )
    assert [(m["msg_type"], m["content"]) for m in outputs] == [
        ("clear_output", {"wait": False}),
        ("stream", {"name": "stdout", "text": "x\n"}),
        ("clear_output", {"wait": True}),
        ("display_data", {"data": {"text/plain": "raw"}, "metadata": {"k": 1}, "transient": {}}),
        ("clear_output", {"wait": True}),
        ("display_data", {"data": {"text/plain": "'y'"}, "metadata": {}, "transient": {}}),
    ]


def test_objects_displaying_themselves(kc: BlockingKernelClient) -> None:
    _, outputs = execute(
        kc,
        "from IPython.display import display\n"
        "class Own:\n    def _ipython_display_(self):\n        display('from inside')\n"
        "display(Own())",
    )
    assert [m["content"]["data"] for m in outputs] == [{"text/plain": "'from inside'"}]


# --------------------------------------------------------------------- the user's choice


def test_mplbackend_of_the_user_is_respected(spec_dir: str) -> None:
    kernel = _start(KERNEL_NAME, _env(MPLBACKEND="agg"), spec_dir)
    try:
        _, shown = execute(kernel[1], IMPORT_PLT + "plt.plot([1]);")
        _, backend = execute(kernel[1], "plt.get_backend()")
    finally:
        _stop(kernel)
    assert shown == []
    assert backend[0]["content"]["data"]["text/plain"] == "'agg'"


def test_matplotlib_use_of_the_user_is_respected(spec_dir: str) -> None:
    kernel = _start(KERNEL_NAME, _env(), spec_dir)
    try:
        _, shown = execute(
            kernel[1], "import matplotlib\nmatplotlib.use('agg')\n" + IMPORT_PLT + "plt.plot([1]);"
        )
        _, backend = execute(kernel[1], "plt.get_backend()")
    finally:
        _stop(kernel)
    assert shown == []
    assert backend[0]["content"]["data"]["text/plain"] == "'agg'"


# ------------------------------------------------------------------- same as ipykernel

SHARED_CELLS = [
    IMPORT_PLT + "plt.plot([1, 2, 3])",
    "1",
    "plt.figure(figsize=(3, 2)); plt.bar([1, 2], [3, 1]); plt.show(); print('after')",
    "fig, ax = plt.subplots(); ax.plot([2, 1]); plt.close(fig)",
    "fig",
    "plt.figure()",
    "plt.plot([1]); plt.savefig(__import__('io').BytesIO())",
    "from IPython.display import HTML, display\ndisplay(HTML('<i>i</i>'), 2)",
]


def _summary(outputs: list[dict[str, Any]]) -> list[tuple[str, Any, Any]]:
    """What a user sees of each output: its type, its MIME types, a PNG's size."""
    summary: list[tuple[str, Any, Any]] = []
    for msg in outputs:
        content = msg["content"]
        if "data" in content:
            png = content["data"].get("image/png")
            size = png_size(png) if png else None
            summary.append((msg["msg_type"], sorted(content["data"]), size))
        else:
            summary.append((msg["msg_type"], content.get("name"), None))
    return summary


def test_same_outputs_as_ipykernel(spec_dir: str, tmp_path: Path) -> None:
    env = _env(IPYTHONDIR=str(tmp_path))  # no IPython profile of the user's changes formats
    summaries = []
    for name, directory in ((KERNEL_NAME, spec_dir), ("python3", None)):
        kernel = _start(name, env, directory)
        try:
            summaries.append([_summary(execute(kernel[1], cell)[1]) for cell in SHARED_CELLS])
        finally:
            _stop(kernel)
    ours, ipykernels = summaries
    assert ours == ipykernels
    assert ours[0][-1][2] is not None  # a PNG was there to compare


# ------------------------------------------------------------------ process-wide set-up

UNDO_SCRIPT = """
import sys
from kernelwire.kernel.display import format_object
from kernelwire.kernel.integrations import BACKEND, install_display_integrations
import IPython.core.display_functions as functions
original = functions.display
integrations = install_display_integrations()
assert functions.display is not original
import matplotlib
assert matplotlib.rcParams['backend'] == BACKEND and matplotlib.is_interactive()
from matplotlib.figure import Figure
figure = Figure()
figure.add_subplot().plot([1])
assert 'image/png' in format_object(figure)[0]
integrations.uninstall()
assert functions.display is original
assert 'image/png' not in format_object(figure)[0]
assert matplotlib.rcParams._get('backend') != BACKEND and not matplotlib.is_interactive()
assert not [f for f in sys.meta_path if type(f).__module__.startswith('kernelwire')]
print('undone')
"""


def test_set_up_is_undone() -> None:
    done = subprocess.run(
        [sys.executable, "-c", UNDO_SCRIPT],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_env(),
    )
    assert done.stdout == "undone\n", done.stderr
