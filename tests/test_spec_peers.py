"""kernelwire.spec agrees with jupyter_kernel_test on real kernels' messages.

ipykernel and the kernelwire reference kernel run as real processes (jupyter_client's
KernelManager) and answer a broad set of requests: execution with streams, a result, rich
display and its update, clear_output, an error, input(), completion, inspection,
is_complete, history, comm_info, kernel_info on shell and control, and shutdown. Every
reply, IOPub and stdin message they send is checked by jupyter_kernel_test's own
validator (for the message types it has a schema for) and by kernelwire.spec.validate:
both accept them all. A kernelwire client whose Session checks in raise mode refuses
nothing ipykernel sends. Every wait has a timeout that only turns a hang into a failure.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager
from jupyter_client.session import Session
from jupyter_kernel_test import msgspec_v5

from helpers import install_reference_kernelspec, jupyter_path
from kernelwire import spec
from kernelwire.client import BlockingClient
from kernelwire.connect import session_from_connection_file

KERNEL_NAME = "kernelwire-spec-tests"
TIMEOUT = 60

DISPLAY_CELL = (
    "from IPython.display import display, clear_output\n"
    "handle = display({'text/plain': 'one', 'text/html': '<b>one</b>'}, raw=True,"
    " display_id=True)\n"
    "handle.update({'text/plain': 'two'}, raw=True)\n"
    "clear_output(wait=True)\n"
)
# what every kernel here must have sent by the end, so that the check covered them
EXPECTED_TYPES = {
    "status",
    "execute_input",
    "execute_reply",
    "stream",
    "execute_result",
    "display_data",
    "update_display_data",
    "clear_output",
    "error",
    "input_request",
    "complete_reply",
    "inspect_reply",
    "is_complete_reply",
    "history_reply",
    "comm_info_reply",
    "kernel_info_reply",
    "shutdown_reply",
}


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return install_reference_kernelspec(tmp_path_factory.mktemp("spec"), KERNEL_NAME)


class Recorder:
    """Drives one kernel and keeps every message it sent, from the first on."""

    def __init__(self, kc: BlockingKernelClient) -> None:
        self.kc = kc
        self.received: list[dict[str, Any]] = []

    def _get(self, channel: str, timeout: float) -> dict[str, Any]:
        getter = getattr(self.kc, f"get_{channel}_msg")
        msg: dict[str, Any] = getter(timeout=timeout)
        self.received.append(msg)
        return msg

    def reply(self, msg_id: str, channel: str = "shell", until_idle: bool = True) -> dict[str, Any]:
        """The reply to ``msg_id``, then the request's IOPub messages up to its idle."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            msg = self._get(channel, deadline - time.monotonic())
            if msg["parent_header"].get("msg_id") == msg_id:
                break
        if until_idle:
            self.outputs_until_idle(msg_id, deadline)
        return msg

    def drain_iopub(self) -> None:
        """Keep what IOPub still holds (a kernel shutting down may send no idle)."""
        try:
            while True:
                self._get("iopub", 1.0)
        except queue.Empty:
            return

    def outputs_until_idle(self, msg_id: str, deadline: float) -> None:
        while True:
            msg = self._get("iopub", max(deadline - time.monotonic(), 0.0))
            if (
                msg["msg_type"] == "status"
                and msg["content"].get("execution_state") == "idle"
                and msg["parent_header"].get("msg_id") == msg_id
            ):
                return

    def connect(self) -> None:
        """kernel_info requests until one's IOPub idle comes: IOPub is then subscribed
        (what comes before a subscription is lost, as with any SUB socket)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            msg_id = self.kc.kernel_info()
            while (
                self._get("shell", deadline - time.monotonic())["parent_header"].get("msg_id")
                != msg_id
            ):
                pass
            try:
                self.outputs_until_idle(msg_id, min(time.monotonic() + 1.0, deadline))
                return
            except queue.Empty:
                assert time.monotonic() < deadline, "IOPub never delivered a status"

    def execute(self, code: str, **options: Any) -> dict[str, Any]:
        return self.reply(self.kc.execute(code, **options))

    def control(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
        msg = self.kc.session.msg(msg_type, content)
        self.kc.control_channel.send(msg)
        return self.reply(msg["header"]["msg_id"], "control")

    def answer_input(self, code: str, value: str) -> dict[str, Any]:
        """Execute ``code`` that calls input(), answer the input_request with ``value``."""
        msg_id = self.kc.execute(code, allow_stdin=True)
        self._get("stdin", TIMEOUT)
        self.kc.input(value)
        return self.reply(msg_id)


def _run_session(km: KernelManager) -> list[dict[str, Any]]:
    # Another client waits until the kernel serves, so that the recording client's sockets
    # connect at once. Otherwise each retries on its own 100 ms timer, and the input_request
    # could go to a stdin connection not made yet: the kernel's ROUTER drops it, and the
    # kernel waits for an answer for ever.
    # The probe gets a session of its own: a client's shell, control and stdin sockets
    # take its session id as their identity, and a kernel's ROUTER refuses a new
    # connection whose identity one it has not yet seen closed still holds.
    probe = km.client(
        session=Session(key=km.session.key, signature_scheme=km.session.signature_scheme)
    )
    probe.start_channels()
    try:
        probe.wait_for_ready(timeout=TIMEOUT)
    finally:
        probe.stop_channels()
    kc = km.client()
    kc.start_channels()
    recorder = Recorder(kc)
    try:
        # no wait_for_ready: it flushes IOPub, and the first messages are to be checked too
        recorder.connect()
        recorder.control("kernel_info_request", {})
        recorder.execute("import sys\nprint('out')\nprint('err', file=sys.stderr)")
        recorder.execute("6 * 7")
        recorder.execute(DISPLAY_CELL)
        assert recorder.execute("1 / 0")["content"]["status"] == "error"
        recorder.answer_input("name = input('name? ')", "kernelwire")
        recorder.reply(kc.complete("import o", 8))
        recorder.reply(kc.inspect("print", 5, detail_level=0))
        recorder.reply(kc.is_complete("for i in range(3):"))
        recorder.reply(kc.is_complete("x = 1"))
        recorder.reply(kc.history(hist_access_type="tail", n=3, output=False, raw=True))
        recorder.reply(kc.history(hist_access_type="range", output=True, raw=False, start=1))
        recorder.reply(kc.comm_info())
        recorder.reply(kc.comm_info(target_name="jupyter.widget"))
        recorder.reply(kc.shutdown(), "control", until_idle=False)
        recorder.drain_iopub()
    finally:
        kc.stop_channels()
    return recorder.received


def _jkt_validate(msg: dict[str, Any]) -> None:
    msgspec_v5.validate_message(msg, msg["msg_type"], msg["parent_header"].get("msg_id"))


@pytest.fixture(scope="module", params=["ipykernel", "kernelwire"])
def received(request: pytest.FixtureRequest, spec_dir: str) -> Iterator[list[dict[str, Any]]]:
    kernel_name = "python3" if request.param == "ipykernel" else KERNEL_NAME
    with jupyter_path(spec_dir):
        km = KernelManager(kernel_name=kernel_name)
        km.start_kernel()
    try:
        yield _run_session(km)
    finally:
        km.shutdown_kernel(now=True)


def _messages_jkt_checks(received: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages jupyter_kernel_test has a schema for, except input_request: its schema
    wants ``password`` to be a number, so it refuses every real input_request (the spec and
    both kernels make it a boolean)."""
    known = set(msgspec_v5.schema_fragments) - {"input_request"}
    return [msg for msg in received if msg["msg_type"] in known]


def test_both_validators_accept_every_message(received: list[dict[str, Any]]) -> None:
    refused = []
    for msg in _messages_jkt_checks(received):
        try:
            _jkt_validate(msg)
        except Exception as exc:
            refused.append(f"jupyter_kernel_test: {msg['msg_type']}: {exc}"[:300])
    for msg in received:
        try:
            spec.validate(msg)
        except spec.SpecViolation as exc:
            refused.append(f"kernelwire.spec: {exc}")
    assert refused == []


def test_the_check_covered_the_message_types(received: list[dict[str, Any]]) -> None:
    seen = {msg["msg_type"] for msg in received}
    assert not EXPECTED_TYPES - seen
    # jupyter_kernel_test checked most of them too, not a handful
    assert len(_messages_jkt_checks(received)) >= 40


def test_a_kernelwire_client_in_raise_mode_refuses_nothing_from_ipykernel() -> None:
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    session = session_from_connection_file(km.connection_file, validate_messages="raise")
    client = BlockingClient(km.connection_file, session=session)
    assert client.session is session
    try:
        client.wait_for_ready(timeout=TIMEOUT)
        result = client.execute(
            "print('out')\n" + DISPLAY_CELL + "6 * 7", timeout=TIMEOUT, stop_on_error=False
        )
        kinds = {msg["msg_type"] for msg in result.outputs}
        failed = client.execute("1 / 0", timeout=TIMEOUT, stop_on_error=False)
        client.complete("import o")
        client.inspect("print")
        client.is_complete("for i in x:")
        client.history(output=True)
        client.comm_info()
        refused = client.router.refused
    finally:
        client.close()
        km.shutdown_kernel(now=True)
    assert {"stream", "display_data", "update_display_data", "execute_result"} <= kinds
    assert failed.reply["content"]["status"] == "error"
    assert refused == 0
