"""Cells in the reference kernel: memory per cell, is_complete on auto-indented blocks,
exit()/quit()/SystemExit, and the tracebacks of failing cells.

The kernel is a real process started by jupyter_client's KernelManager and driven with its
BlockingKernelClient; where kernelwire must behave as ipykernel does, an ipykernel process
answers the same requests and the two answers are compared. Every wait is bounded; none
is a timing threshold.
"""

from __future__ import annotations

import gc
import inspect
import linecache
import re
import subprocess
import time
from collections.abc import Iterator
from queue import Empty
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from helpers import install_reference_kernelspec, start_managed_kernel, stop_managed_kernel
from kernelwire.kernel.execution import Executor
from kernelwire.kernel.history import History

KERNEL_NAME = "kernelwire-cells-tests"
TIMEOUT = 60
ANSI = re.compile(r"\x1b\[[0-9;]*m")

Kernel = tuple[KernelManager, BlockingKernelClient]


def _start(kernel_name: str, spec_dir: str | None = None) -> Kernel:
    return start_managed_kernel(kernel_name, spec_dir, TIMEOUT, stderr=subprocess.DEVNULL)


_stop = stop_managed_kernel


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return install_reference_kernelspec(tmp_path_factory.mktemp("spec"), KERNEL_NAME)


@pytest.fixture(scope="module")
def kw(spec_dir: str) -> Iterator[BlockingKernelClient]:
    """One kernelwire kernel for the module (no test here raises SystemExit in it)."""
    kernel = _start(KERNEL_NAME, spec_dir)
    yield kernel[1]
    _stop(kernel)


@pytest.fixture(scope="module")
def ipy() -> Iterator[BlockingKernelClient]:
    """ipykernel, the reference the answers are compared with."""
    kernel = _start("python3")
    yield kernel[1]
    _stop(kernel)


@pytest.fixture
def fresh_kw(spec_dir: str) -> Iterator[Kernel]:
    kernel = _start(KERNEL_NAME, spec_dir)
    yield kernel
    _stop(kernel)


@pytest.fixture
def fresh_ipy() -> Iterator[Kernel]:
    kernel = _start("python3")
    yield kernel
    _stop(kernel)


def _reply(kc: BlockingKernelClient, msg_id: str) -> dict[str, Any]:
    while True:
        msg = kc.get_shell_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


def _outputs(kc: BlockingKernelClient, msg_id: str) -> list[dict[str, Any]]:
    """The IOPub messages of request ``msg_id`` up to its idle status (statuses left out)."""
    messages = []
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status":
            if msg["content"]["execution_state"] == "idle":
                return messages
            continue
        messages.append(msg)


def execute(
    kc: BlockingKernelClient, code: str, **kwargs: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The execute_reply content and the IOPub messages of one cell."""
    msg_id = kc.execute(code, **kwargs)
    return _reply(kc, msg_id)["content"], _outputs(kc, msg_id)


def _traceback(content: dict[str, Any]) -> str:
    return ANSI.sub("", "\n".join(content["traceback"]))


def _value(kc: BlockingKernelClient, expression: str) -> Any:
    """The value of ``expression`` in the kernel (a literal, through user_expressions)."""
    reply, _ = execute(kc, "", silent=True, user_expressions={"v": expression})
    result = reply["user_expressions"]["v"]
    assert result["status"] == "ok", result
    return eval(result["data"]["text/plain"], {})


# ----------------------------------------------------------------------- 6. memory


MEASURE_CELL = """
import ctypes, gc, linecache, resource, sys
from kernelwire.kernel.kernel import get_kernel

# glibc keeps memory freed by each thread in that thread's arena, megabytes of it after a
# batch of 20 kB messages; trimmed, the resident size counts live memory only.
malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)

def resident_kib():
    gc.collect()
    if malloc_trim is not None:
        malloc_trim(0)
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() // 1024
    except OSError:  # no procfs: the peak, in bytes on macOS
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak // 1024 if sys.platform == "darwin" else peak

get_kernel().history.max_entries = 100
get_kernel().history.max_chars = 1_000_000
"""
STATE = "(len(linecache.cache), len(get_kernel().history.tail(10**9)), resident_kib())"
CELLS = 1000
CELL_CHARS = 20_000
BATCH = 50


def test_memory_per_cell_is_bounded(spec_dir: str) -> None:
    """1000 cells of 20 kB each: the kernel keeps no linecache entry for them, keeps only
    as much history as configured, and its resident memory grows by far less than the
    cells' text (under 1 kB per cell; the old kernel kept every cell: 20 kB per cell)."""
    kernel = _start(KERNEL_NAME, spec_dir)
    kc = kernel[1]
    try:
        reply, _ = execute(kc, MEASURE_CELL)
        assert reply["status"] == "ok", reply
        filler = "#" * CELL_CHARS
        for first in range(0, 2 * BATCH, BATCH):  # warm up: allocator, zmq buffers
            _run_batch(kc, [f"x = {i}  {filler}" for i in range(first, first + BATCH)])
        cache_before, _, resident_before = _value(kc, STATE)
        for first in range(0, CELLS, BATCH):
            _run_batch(kc, [f"x = {i}  {filler}" for i in range(first, first + BATCH)])
        cache_after, history_entries, resident_after = _value(kc, STATE)
    finally:
        _stop(kernel)
    assert cache_after - cache_before < 10  # one entry per cell before the fix: 1000
    assert history_entries <= 100
    growth_per_cell = (resident_after - resident_before) * 1024 / CELLS
    assert growth_per_cell < CELL_CHARS / 4, f"{growth_per_cell:.0f} bytes per cell"


def _run_batch(kc: BlockingKernelClient, cells: list[str]) -> None:
    """Queue ``cells`` at once, then wait for every reply (IOPub is read and dropped)."""
    msg_ids = [kc.execute(code) for code in cells]
    for msg_id in msg_ids:
        assert _reply(kc, msg_id)["content"]["status"] == "ok"
    while True:
        try:
            kc.get_iopub_msg(timeout=0.01)
        except Empty:
            return


def test_cell_source_lives_as_long_as_its_code() -> None:
    """In-process: a cell's linecache entry stays while code compiled from it lives (a
    function, a generator) and goes with it; cells that leave nothing behind keep none."""
    executor = Executor()
    base = len(linecache.cache)
    for count in range(1, 2001):
        assert executor.run_cell(f"x = {count}", count, stored=True).error is None
    assert len(linecache.cache) - base == 0
    assert len(executor.sources) == 0
    executor.run_cell("def kept():\n    return 'source kept'", 2001, stored=True)
    executor.run_cell("gen = (n for n in range(3))", 2001)
    assert len(executor.sources) == 2
    assert "source kept" in inspect.getsource(executor.namespace["kept"])
    error = executor.run_cell("kept(1)", 2002, stored=True).error
    assert error is not None
    assert "Cell In[2002], line 1" in "\n".join(error["traceback"])
    assert [name for name in linecache.cache if name.startswith("<Cell")] == [
        "<Cell In[2001]>",
        "<Cell In[2001.1]>",
    ]
    executor.run_cell("del kept, gen", 2002)
    gc.collect()
    assert len(executor.sources) == 0
    assert [name for name in linecache.cache if name.startswith("<Cell")] == []


def test_history_keeps_the_newest_within_its_bounds() -> None:
    history = History(max_entries=3, max_chars=100)
    for line in range(1, 6):
        history.store(line, f"cell {line}")
    assert [entry[1] for entry in history.tail(10)] == [3, 4, 5]
    history.store_output(5, "x" * 85)  # 85 + the three inputs: over 100 characters
    assert [entry[1] for entry in history.tail(10, output=True)] == [4, 5]
    assert history.chars == len("cell 4") + len("cell 5") + 85
    history.store(6, "y" * 500)  # alone over the limit: the newest entry stays
    assert history.tail(10) == [(1, 6, "y" * 500)]
    assert len(history) == 1


# ------------------------------------------------------------------ 12. is_complete

AUTO_INDENTED = [
    "for i in range(3):\n    print(i)\n    ",
    "for i in range(3):\n    print(i)\n",
    "for i in range(3):\n    print(i)\n    \n",
    "for i in range(3):\n\tprint(i)\n\t",
    "def f():\n    if x:\n        return 1\n        ",
    "def f():\n    if x:\n        return 1\n    ",
    "class A:\n    def f(self):\n        pass\n    ",
    "if True:\n    x = 1\nelse:\n    x = 2\n    ",
    "try:\n    1\nexcept Exception:\n    pass\n    ",
    "async def f():\n    await x\n    ",
    "x = 1\n    ",
    # still open: no line break after the block's last line, a colon, a bracket
    "for i in range(3):\n    print(i)",
    "def f():\n    return 1",
    "for i in range(3):\n    ",
    "if x:\n    pass\nelse:",
    "x = [1,\n   2",
    "if True:\n    x = (1,\n",
    "x = 1 \\",
    # ordinary cells
    "x = 1",
    "await x",
    "x?",
    "",
    "x = )",
]


def test_is_complete_answers_as_ipykernel(
    kw: BlockingKernelClient, ipy: BlockingKernelClient
) -> None:
    """jupyter console asks is_complete on Enter: a block ending on an auto-indented empty
    line must run (``complete``), and kernelwire must answer as ipykernel does."""
    answers = {}
    for code in AUTO_INDENTED:
        ours = _reply(kw, kw.is_complete(code))["content"]
        theirs = _reply(ipy, ipy.is_complete(code))["content"]
        answers[code] = ours
        assert ours == theirs, code
    assert answers["for i in range(3):\n    print(i)\n    "] == {"status": "complete"}
    assert answers["for i in range(3):\n    print(i)"] == {"status": "incomplete", "indent": "    "}


# ------------------------------------------------------------- 13. exit and SystemExit

# ipykernel 7.4 stops its process 0.1 s after an exit() that does not keep the kernel, so
# it runs the cells that keep it first and one that does not (a bare ``exit``) last.
EXIT_CELLS = [
    "exit(keep_kernel=True)",
    "quit(True)",
    "print('before')\nexit(keep_kernel=True)\nprint('after')",
    "def stop():\n    quit(keep_kernel=True)\n    return 5\nstop()",
    "exit",
]


def test_exit_and_quit_ask_the_frontend_as_ipykernel(fresh_kw: Kernel, fresh_ipy: Kernel) -> None:
    """exit()/quit() raise nothing: the reply carries IPython's ``ask_exit`` payload and
    the cell goes on. With keep_kernel=True the kernel keeps running; without it, it ends
    once the request is answered, as ipykernel does (the last cell here is a bare exit)."""
    kw, ipy = fresh_kw[1], fresh_ipy[1]
    for code in EXIT_CELLS:
        ours, our_outputs = execute(kw, code)
        theirs, their_outputs = execute(ipy, code)
        assert ours["status"] == theirs["status"] == "ok", code
        assert ours["payload"] == theirs["payload"], code
        assert _shown(our_outputs) == _shown(their_outputs), code
    assert theirs["payload"] == [{"source": "ask_exit", "keepkernel": False}]
    for manager in (fresh_kw[0], fresh_ipy[0]):
        _wait_until_exited(manager)


@pytest.mark.parametrize("code", ["exit()", "quit()", "exit(keep_kernel=False)"])
def test_exit_without_keep_kernel_ends_the_kernel_after_its_reply(spec_dir: str, code: str) -> None:
    """The reply (with the payload) and idle come first; then the process ends."""
    kernel = _start(KERNEL_NAME, spec_dir)
    try:
        reply, outputs = execute(kernel[1], f"print('bye')\n{code}")
        assert reply["payload"] == [{"source": "ask_exit", "keepkernel": False}]
        assert ("stdout", "bye\n") in _shown(outputs)
        _wait_until_exited(kernel[0])
    finally:
        _stop(kernel)


def _wait_until_exited(manager: Any) -> None:
    deadline = time.monotonic() + TIMEOUT
    while manager.is_alive():
        assert time.monotonic() < deadline, "the kernel did not end after exit()"
        time.sleep(0.05)


def _shown(outputs: list[dict[str, Any]]) -> list[Any]:
    """What a user sees of a cell's outputs: streams and results."""
    shown: list[Any] = []
    for msg in outputs:
        if msg["msg_type"] == "stream":
            shown.append((msg["content"]["name"], msg["content"]["text"]))
        elif msg["msg_type"] == "execute_result":
            shown.append(msg["content"]["data"])
    return shown


SYSTEM_EXITS = ["import sys; sys.exit(1)", "raise SystemExit", "sys.exit('done')"]
EXIT_HINT = "To exit: use 'exit', 'quit', or Ctrl-D."


def test_system_exit_is_reported_as_ipykernel_does(fresh_kw: Kernel, fresh_ipy: Kernel) -> None:
    """SystemExit ends the cell, not the kernel: an error without a traceback of frames
    (the exception's line last), IPython's hint on stderr after the first one only."""
    kw_outputs, ipy_outputs = [], []
    for code in SYSTEM_EXITS:
        ours, kw_out = execute(fresh_kw[1], code)
        theirs, ipy_out = execute(fresh_ipy[1], code)
        kw_outputs.append(kw_out)
        ipy_outputs.append(ipy_out)
        assert ours["status"] == theirs["status"] == "error"
        assert (ours["ename"], ours["evalue"]) == (theirs["ename"], theirs["evalue"]), code
        assert ours["traceback"][-1] == ANSI.sub("", theirs["traceback"][-1]).rstrip("\n")
        assert len(ours["traceback"]) == len(theirs["traceback"]) == 2
        assert [m["msg_type"] for m in kw_out][:2] == ["execute_input", "error"]
        assert kw_out[1]["content"] == {k: ours[k] for k in ("ename", "evalue", "traceback")}
    for outputs in (kw_outputs, ipy_outputs):
        hints = [[m for m in cell if EXIT_HINT in m["content"].get("text", "")] for cell in outputs]
        assert [len(h) for h in hints] == [1, 0, 0]
        assert hints[0][0]["content"]["name"] == "stderr"
        assert [m["msg_type"] for m in outputs[0]] == ["execute_input", "error", "stream"]
    assert fresh_kw[0].is_alive()
    assert execute(fresh_kw[1], "'alive'")[0]["status"] == "ok"


def test_system_exit_while_showing_the_result(kw: BlockingKernelClient) -> None:
    """A __repr__ that raises SystemExit fails the cell; the kernel survives it."""
    code = "class Stubborn:\n    def __repr__(self):\n        raise SystemExit(2)\nStubborn()"
    reply, outputs = execute(kw, code)
    assert (reply["status"], reply["ename"], reply["evalue"]) == ("error", "SystemExit", "2")
    assert [m["msg_type"] for m in outputs] == ["execute_input", "error"]
    assert execute(kw, "'alive'")[0]["status"] == "ok"


# --------------------------------------------------------------------- 15. tracebacks


def test_syntax_error_shows_the_cell_only(
    kw: BlockingKernelClient, ipy: BlockingKernelClient
) -> None:
    """No ast.py or kernel frame: the cell's name, line, text and caret, as ipykernel."""
    for code in ("x = )", "def f(:\n    pass", "for i in x:\nprint(i)"):
        ours, _ = execute(kw, code)
        theirs, _ = execute(ipy, code)
        assert ours["ename"] == theirs["ename"], code
        text = _traceback(ours)
        assert "ast.py" not in text and "kernelwire" not in text and "File" not in text
        lines, their_lines = text.splitlines(), _traceback(theirs).splitlines()
        assert lines[0] == f"  Cell In[{ours['execution_count']}], line {_line(theirs)}"
        # the source line and the message (IPython draws one caret where Python may draw more)
        assert (lines[1], lines[-1]) == (their_lines[1], their_lines[-1]), code


def _line(content: dict[str, Any]) -> str:
    """The line number ipykernel names in its first ``Cell In[n], line <k>``."""
    found = re.search(r"Cell In\[\d+\], line (\d+)", _traceback(content))
    assert found, content
    return found.group(1)


def test_frames_are_named_after_the_execution_count(
    kw: BlockingKernelClient, ipy: BlockingKernelClient
) -> None:
    code = "def inner():\n    return 1 / 0\n\ninner()"
    for kc in (kw, ipy):
        reply, _ = execute(kc, code)
        count = reply["execution_count"]
        text = _traceback(reply)
        assert f"Cell In[{count}], line 4" in text, text
        assert f"Cell In[{count}], line 2, in inner" in text, text
        assert "kernelwire" not in text and "interactiveshell" not in text


def test_interrupt_traceback_has_no_kernel_frames(kw: BlockingKernelClient) -> None:
    """The SIGINT handler's frames (kernel.py, interrupts.py) are the kernel's, not the
    user's: the traceback ends at the cell line that was running."""
    msg_id = kw.execute("import time\nwhile True:\n    time.sleep(0.01)")
    _wait_started(kw, msg_id)
    kw.control_channel.send(kw.session.msg("interrupt_request", {}))
    reply = _reply(kw, msg_id)["content"]
    text = _traceback(reply)
    assert reply["ename"] == "KeyboardInterrupt"
    assert "kernelwire" not in text and "_on_sigint" not in text and "on_signal" not in text
    lines = text.splitlines()
    frames = [line for line in lines if line.startswith("  ") and not line.startswith("    ")]
    assert frames and all(
        f.startswith(f"  Cell In[{reply['execution_count']}], line ") for f in frames
    )
    assert lines[-1] == "KeyboardInterrupt"


def _wait_started(kc: BlockingKernelClient, msg_id: str) -> None:
    """Wait until the cell runs (its execute_input is out)."""
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
            return


def test_unstored_cells_get_names_of_their_own(kw: BlockingKernelClient) -> None:
    """Cells run with store_history=False or silent share no name with each other or with
    the stored cell before them: each function keeps showing its own source line."""
    stored, _ = execute(kw, "def from_stored():\n    raise ValueError('stored')")
    count = stored["execution_count"]
    execute(kw, "def from_first():\n    raise ValueError('first')", store_history=False)
    execute(kw, "def from_second():\n    raise ValueError('second')", silent=True)
    names = []
    for function, message in (("from_stored", "stored"), ("from_first", "first")):
        reply, _ = execute(kw, f"{function}()", store_history=False)
        text = _traceback(reply)
        assert f"raise ValueError('{message}')" in text, text
        names.append(re.findall(r"Cell (In\[[\d.]+\]), line 2, in", text)[0])
    reply, _ = execute(kw, "from_second()", silent=True)
    assert "raise ValueError('second')" in _traceback(reply)
    names.append(re.findall(r"Cell (In\[[\d.]+\]), line 2, in", _traceback(reply))[0])
    assert names == [f"In[{count}]", f"In[{count}.1]", f"In[{count}.2]"]
