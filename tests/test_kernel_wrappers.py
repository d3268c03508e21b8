"""The example wrapper kernels (examples/echo_kernel.py, examples/prompt_kernel.py) on
KernelBase: jupyter_kernel_test's conformance suite, and jupyter_client's KernelManager
driving input requests, interrupts and shutdown.

Each kernel runs as a real process started by jupyter_client from a kernelspec written into
a temporary Jupyter data dir, its argv the example script, as a kernel author would install
it. Conformance tests of features an example does not have (a pager, completion, rich
display...) are removed from its class rather than skipped: these kernels do not claim
them. Every wait is bounded; none is a timing threshold.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jupyter_kernel_test as jkt
import pytest

from helpers import jupyter_path, start_managed_kernel, stop_managed_kernel

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GUIDE = EXAMPLES.parent / "docs" / "guides" / "wrapper-kernels.md"
TIMEOUT = 60
ECHO = "kernelwire-echo-example"
PROMPT = "kernelwire-prompt-example"


def write_kernelspec(data_dir: str, name: str, script: str) -> None:
    """A kernelspec running ``examples/<script>`` with this interpreter."""
    spec_dir = Path(data_dir, "kernels", name)
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, str(EXAMPLES / script), "-f", "{connection_file}"],
        "display_name": name,
        "language": name,
        "interrupt_mode": "signal",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")


class _ExampleKernelspec:
    """Mixin for the jupyter_kernel_test classes: the example's kernelspec, visible through
    JUPYTER_PATH only while the KernelManager looks it up."""

    kernel_name = ""
    script = ""
    data_dir = ""

    @classmethod
    def setUpClass(cls) -> None:
        cls.data_dir = tempfile.mkdtemp(prefix="kernelwire-example-")
        write_kernelspec(cls.data_dir, cls.kernel_name, cls.script)
        with jupyter_path(cls.data_dir):
            super().setUpClass()  # type: ignore[misc]

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()  # type: ignore[misc]
        shutil.rmtree(cls.data_dir, ignore_errors=True)


class EchoKernelTests(_ExampleKernelspec, jkt.KernelTests):
    kernel_name = ECHO
    script = "echo_kernel.py"
    language_name = "echo"
    file_extension = ".txt"

    code_hello_world = "hello, world"
    complete_code_samples = ["hello", "two\nlines"]
    incomplete_code_samples = ["to be \\"]
    # KernelBase's default do_complete: a valid reply without matches.
    completion_samples = [{"text": "ec", "matches": set()}]

    # What the echo kernel does not have.
    test_execute_stderr = test_pager = test_error = test_execute_result = None
    test_display_data = test_history = test_inspect = test_clear_output = None


class EchoIopubWelcomeTests(_ExampleKernelspec, jkt.IopubWelcomeTests):
    kernel_name = ECHO
    script = "echo_kernel.py"
    support_iopub_welcome = True


class PromptKernelTests(_ExampleKernelspec, jkt.KernelTests):
    kernel_name = PROMPT
    script = "prompt_kernel.py"
    language_name = "prompt"
    file_extension = ".txt"

    code_hello_world = "say hello, world"
    code_generate_error = "shout hello"

    # What the prompt kernel does not have (its results need an answer to a prompt, which
    # jupyter_kernel_test does not give; they are tested below).
    test_execute_stderr = test_completion = test_is_complete = test_pager = None
    test_execute_result = test_display_data = test_history = test_inspect = None
    test_clear_output = None


class PromptIopubWelcomeTests(_ExampleKernelspec, jkt.IopubWelcomeTests):
    kernel_name = PROMPT
    script = "prompt_kernel.py"
    support_iopub_welcome = True


# ------------------------------------------------- driven by jupyter_client directly


@pytest.fixture(scope="module")
def prompt_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    data_dir = str(tmp_path_factory.mktemp("specs"))
    write_kernelspec(data_dir, PROMPT, "prompt_kernel.py")
    kernel = start_managed_kernel(PROMPT, data_dir, TIMEOUT, stderr=subprocess.DEVNULL)
    yield kernel
    stop_managed_kernel(kernel)


def outputs_of(kc: Any, msg_id: str) -> list[dict[str, Any]]:
    """The IOPub messages of request ``msg_id`` up to its idle status (bounded wait)."""
    found = []
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return found
        found.append(msg)


def test_raw_input_and_getpass_ask_the_frontend(prompt_kernel: tuple[Any, Any]) -> None:
    kc = prompt_kernel[1]
    msg_id = kc.execute("ask Your name?\nsecret Your password?", allow_stdin=True)
    request = kc.get_stdin_msg(timeout=TIMEOUT)
    assert request["parent_header"]["msg_id"] == msg_id
    assert request["content"] == {"prompt": "Your name? ", "password": False}
    kc.input("Ada")
    request = kc.get_stdin_msg(timeout=TIMEOUT)
    assert request["content"] == {"prompt": "Your password? ", "password": True}
    kc.input("s3cret")
    reply = kc.get_shell_msg(timeout=TIMEOUT)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["status"] == "ok"
    results = [m for m in outputs_of(kc, msg_id) if m["msg_type"] == "execute_result"]
    assert [m["content"]["data"]["text/plain"] for m in results] == ["Ada\n(6 characters)"]


def test_a_frontend_without_stdin_gets_an_error(prompt_kernel: tuple[Any, Any]) -> None:
    kc = prompt_kernel[1]
    msg_id = kc.execute("ask Anyone there?", allow_stdin=False)
    reply = kc.get_shell_msg(timeout=TIMEOUT)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "StdinNotImplementedError"
    errors = [m for m in outputs_of(kc, msg_id) if m["msg_type"] == "error"]
    assert [m["content"]["ename"] for m in errors] == ["StdinNotImplementedError"]


def test_an_interrupt_stops_a_wrapper_waiting_for_input(prompt_kernel: tuple[Any, Any]) -> None:
    """KernelManager interrupts by SIGINT (interrupt_mode signal): the hook gets a
    KeyboardInterrupt, which the kernel turns into the cell's error, and serves on."""
    km, kc = prompt_kernel
    msg_id = kc.execute("ask Waiting for ever?", allow_stdin=True)
    assert kc.get_stdin_msg(timeout=TIMEOUT)["parent_header"]["msg_id"] == msg_id
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=TIMEOUT)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert (reply["content"]["status"], reply["content"]["ename"]) == ("error", "KeyboardInterrupt")
    errors = [m for m in outputs_of(kc, msg_id) if m["msg_type"] == "error"]
    assert [m["content"]["ename"] for m in errors] == ["KeyboardInterrupt"]
    assert kc.execute_interactive("say still here", timeout=TIMEOUT)["content"]["status"] == "ok"


def test_shutdown_request_ends_the_process_cleanly(tmp_path: Path) -> None:
    """jupyter_client's graceful shutdown (a shutdown_request, then waiting): the kernel
    process exits by itself with status 0, not killed after the wait."""
    write_kernelspec(str(tmp_path), ECHO, "echo_kernel.py")
    km, kc = start_managed_kernel(ECHO, str(tmp_path), TIMEOUT, stderr=subprocess.DEVNULL)
    process = km.provisioner.process
    try:
        info = kc.kernel_info(reply=True, timeout=TIMEOUT)["content"]
        assert (info["implementation"], info["language_info"]["name"]) == ("echo", "echo")
    finally:
        stop_managed_kernel((km, kc), now=False)
    assert process.returncode == 0


def test_the_guides_python_snippet_runs() -> None:
    """The wrapper-kernel guide's in-memory example, run as written next to the examples
    (the guide shows the example kernels themselves from their files)."""
    snippets = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    assert len(snippets) == 1
    done = subprocess.run(
        [sys.executable, "-c", snippets[0]],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr


def test_the_side_by_side_benchmark_runs() -> None:
    """benchmarks/bench_wrapper_kernels.py, as a smoke run (tiny counts, no figure
    checked): the same wrapper kernel starts and answers on both bases."""
    script = EXAMPLES.parent / "benchmarks" / "bench_wrapper_kernels.py"
    done = subprocess.run(
        [sys.executable, str(script), "--executes", "3", "--messages", "10"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = {line.split("|")[0].strip() for line in done.stdout.splitlines() if "|" in line}
    assert {"kernelwire", "ipykernel"} <= rows, done.stdout
    assert "to a bare reader" in done.stdout  # the kernel's delivery, the client left out
