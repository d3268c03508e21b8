"""How the reference kernel compiles cells, and the blocking client's heartbeat during a wait.

Real kernel processes, driven by kernelwire's BlockingClient; every wait is bounded and no
figure is asserted.
"""

from __future__ import annotations
import __future__

from collections.abc import Iterator

import pytest

from helpers import reference_kernel
from kernelwire.client import BlockingClient, KernelProcess

#: Bounds every wait (generous: the machine may be loaded).
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def kernel() -> Iterator[KernelProcess]:
    with reference_kernel() as process:
        yield process


def _result(client: BlockingClient, code: str) -> str:
    result = client.execute(code, timeout=TIMEOUT)
    assert result.status == "ok", result.reply
    values = [m for m in result.outputs if m["msg_type"] == "execute_result"]
    return str(values[-1]["content"]["data"]["text/plain"])


def test_cells_do_not_inherit_the_kernels_future_imports(kernel: KernelProcess) -> None:
    """The kernel's modules use ``from __future__ import annotations``; ``compile`` passes
    that on to the code it compiles unless told not to: a cell's annotations then became
    strings, unlike in Python or ipykernel."""
    flag = __future__.annotations.compiler_flag
    with BlockingClient(kernel.info, kernel=kernel) as client:
        client.wait_for_ready(TIMEOUT)
        assert _result(client, "def f(x: int) -> None: pass\nf.__annotations__") == (
            "{'x': <class 'int'>, 'return': None}"
        )
        reply = client.execute(
            "pass",
            timeout=TIMEOUT,
            user_expressions={"flags": f"(lambda: 0).__code__.co_flags & {flag}"},
        ).reply
        expression = reply["content"]["user_expressions"]["flags"]
        assert expression["status"] == "ok", expression
        assert expression["data"]["text/plain"] == "0"
        # A cell's own future import still counts, for that cell.
        assert _result(
            client, "from __future__ import annotations\ndef g(x: int): pass\ng.__annotations__"
        ) == ("{'x': 'int'}")


def test_a_long_wait_on_a_kernel_not_started_by_the_client_reads_the_heartbeat(
    kernel: KernelProcess,
) -> None:
    """Without the kernel's process the client pings the heartbeat while it waits (the
    heartbeat is polled only while a ping is unanswered): the answers are read, so a cell
    that outlasts the heartbeat timeout is no KernelDied."""
    with BlockingClient(kernel.info, heartbeat_timeout=1.5) as client:
        client.wait_for_ready(TIMEOUT)
        result = client.execute("import time; time.sleep(3.5)", timeout=TIMEOUT)
        assert result.status == "ok", result.reply
        assert client.is_alive(TIMEOUT)
