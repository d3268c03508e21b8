"""jupyter_client drives the kernelwire reference kernel, a real process.

The kernel is started by jupyter_client's KernelManager from a kernelspec installed in a
temporary Jupyter data dir; the real ``BlockingKernelClient`` (and, for the bad-input
checks, raw pyzmq sockets with jupyter_client Sessions) talk to it. Every wait has a
timeout; none is a timing threshold: each test waits for an event that only correct
behaviour produces.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from jupyter_client.session import Session as JCSession

from helpers import install_reference_kernelspec, start_managed_kernel, wait_until_serving
from kernelwire.connect import channel_url, write_connection_file

INSTALL = [sys.executable, "-m", "kernelwire.kernel", "install"]
KERNEL_NAME = "kernelwire-client-tests"
TIMEOUT = 30


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield install_reference_kernelspec(tmp_path_factory.mktemp("spec"), KERNEL_NAME)


def _start(spec_dir: str, log: Any = None) -> tuple[KernelManager, BlockingKernelClient]:
    """Start a kernel (its stderr, where it logs, into the file ``log`` when given)."""
    return start_managed_kernel(
        KERNEL_NAME, spec_dir, TIMEOUT, **({"stderr": log} if log is not None else {})
    )


@pytest.fixture(scope="module")
def kernel_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("log") / "kernel.log"


@pytest.fixture(scope="module")
def kernel(spec_dir: str, kernel_log: Path) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    with open(kernel_log, "w") as log:
        km, kc = _start(spec_dir, log)
        yield km, kc
        kc.stop_channels()
        km.shutdown_kernel(now=False)


_SHELL_SUMMARY_COUNT = re.compile(r"; shell [^;:\n]+: (\d+)")


def _shell_drops(log_text: str) -> int:
    """Messages dropped on shell per the log: the first of each kind has its own line,
    the kernel counts the others in periodic summary lines (rate-limited logging)."""
    summaries = (line for line in log_text.splitlines() if "more messages in the last" in line)
    counted = sum(
        int(n)
        for line in summaries
        for n in _SHELL_SUMMARY_COUNT.findall("; " + line.split(": ", 1)[1])
    )
    return log_text.count("dropped a message on shell") + counted


def _wait_for_drops(kernel_log: Path, count: int) -> None:
    """Wait until the kernel has logged ``count`` dropped messages in all."""
    deadline = time.monotonic() + TIMEOUT
    while _shell_drops(kernel_log.read_text()) < count:
        assert time.monotonic() < deadline, kernel_log.read_text()
        time.sleep(0.02)


@pytest.fixture
def kc(kernel: tuple[KernelManager, BlockingKernelClient]) -> BlockingKernelClient:
    client = kernel[1]
    _drain(client)
    return client


def _drain(kc: BlockingKernelClient) -> None:
    for get in (kc.get_shell_msg, kc.get_iopub_msg, kc.get_stdin_msg):
        while True:
            try:
                get(timeout=0.05)
            except Empty:
                break


def _outputs(kc: BlockingKernelClient, msg_id: str) -> list[dict[str, Any]]:
    """IOPub messages parented to ``msg_id``, from busy to idle (both included)."""
    messages: list[dict[str, Any]] = []
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages


def _reply(kc: BlockingKernelClient, msg_id: str) -> dict[str, Any]:
    while True:
        msg = kc.get_shell_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


def execute(
    kc: BlockingKernelClient, code: str, **kwargs: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The execute_reply and the IOPub messages of one cell (status ones left out)."""
    msg_id = kc.execute(code, **kwargs)
    reply = _reply(kc, msg_id)
    outputs = [m for m in _outputs(kc, msg_id) if m["msg_type"] != "status"]
    return reply, outputs


def _types(outputs: list[dict[str, Any]]) -> list[str]:
    return [m["msg_type"] for m in outputs]


# --------------------------------------------------------------------------- execution


def test_execute_streams_result_and_counts(kc: BlockingKernelClient) -> None:
    msg_id = kc.execute("print('hello'); 6 * 7")
    reply = _reply(kc, msg_id)
    messages = _outputs(kc, msg_id)
    assert _types(messages) == ["status", "execute_input", "stream", "execute_result", "status"]
    assert [m["content"].get("execution_state") for m in (messages[0], messages[-1])] == [
        "busy",
        "idle",
    ]
    count = reply["content"]["execution_count"]
    assert reply["content"]["status"] == "ok"
    assert messages[1]["content"] == {"code": "print('hello'); 6 * 7", "execution_count": count}
    assert messages[2]["content"] == {"name": "stdout", "text": "hello\n"}
    assert messages[3]["content"]["data"] == {"text/plain": "42"}
    assert messages[3]["content"]["execution_count"] == count
    again, _ = execute(kc, "pass")
    assert again["content"]["execution_count"] == count + 1


def test_kernel_uses_its_own_session_id(kc: BlockingKernelClient) -> None:
    msg_id = kc.kernel_info()
    reply = _reply(kc, msg_id)
    statuses = _outputs(kc, msg_id)
    kernel_sessions = {reply["header"]["session"]} | {m["header"]["session"] for m in statuses}
    assert len(kernel_sessions) == 1
    assert kc.session.session not in kernel_sessions
    assert reply["parent_header"]["session"] == kc.session.session


def test_kernel_info_content(kc: BlockingKernelClient) -> None:
    content = _reply(kc, kc.kernel_info())["content"]
    # 5.6, as its kernelspec says: the message formats of 5.5 plus the startup handshake
    assert content["protocol_version"] == "5.6"
    assert content["implementation"] == "kernelwire"
    info = content["language_info"]
    assert info["name"] == "python"
    assert info["file_extension"] == ".py"
    assert info["mimetype"] == "text/x-python"
    assert {"pygments_lexer", "codemirror_mode", "nbconvert_exporter", "version"} <= set(info)
    assert isinstance(content["supported_features"], list)
    assert content["help_links"] and content["banner"]
    request = kc.session.msg("connect_request", {})
    kc.shell_channel.send(request)
    ports = _reply(kc, request["header"]["msg_id"])["content"]
    assert ports["shell_port"] == kc.shell_port
    assert ports["hb_port"] == kc.hb_port


def test_error_after_output_keeps_order(kc: BlockingKernelClient) -> None:
    reply, outputs = execute(kc, "print('before')\nraise ValueError('boom')")
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "ValueError"
    assert reply["content"]["evalue"] == "boom"
    assert _types(outputs) == ["execute_input", "stream", "error"]
    assert outputs[1]["content"]["text"] == "before\n"
    traceback = "\n".join(outputs[2]["content"]["traceback"])
    assert "raise ValueError('boom')" in traceback  # the cell's source line is shown
    assert "kernelwire/kernel" not in traceback  # the kernel's own frames are not


def test_syntax_error_and_system_exit_are_reported(kc: BlockingKernelClient) -> None:
    reply, outputs = execute(kc, "x = )")
    assert reply["content"]["ename"] == "SyntaxError"
    assert _types(outputs)[-1] == "error"
    reply, outputs = execute(kc, "raise SystemExit(3)")
    assert reply["content"]["ename"] == "SystemExit"
    assert execute(kc, "'survived'")[1][-1]["content"]["data"] == {"text/plain": "'survived'"}


def test_top_level_await(kc: BlockingKernelClient) -> None:
    reply, outputs = execute(
        kc, "import asyncio\nawait asyncio.sleep(0)\nawait asyncio.sleep(0, 'done')"
    )
    assert reply["content"]["status"] == "ok"
    assert outputs[-1]["content"]["data"] == {"text/plain": "'done'"}


def test_rich_display_and_update(kc: BlockingKernelClient) -> None:
    code = (
        "class Rich:\n"
        "    def _repr_html_(self): return '<b>r</b>'\n"
        "    def _repr_png_(self): return b'\\x89PNG'\n"
        "    def _repr_jpeg_(self): return b'\\xff\\xd8'\n"
        "    def _repr_pdf_(self): return b'%PDF'\n"
        "    def _repr_svg_(self): return '<svg/>'\n"
        "    def _repr_javascript_(self): return 'alert(1)'\n"
        "    def _repr_json_(self): return {'k': [1, 2]}\n"
        "    def _repr_latex_(self): return ('$x$', {'note': 1})\n"
        "    def _repr_markdown_(self): raise RuntimeError('broken repr')\n"
        "class Bundle:\n"
        "    def _repr_mimebundle_(self, include=None, exclude=None):\n"
        "        return {'text/markdown': '**m**', 'application/vnd.custom+json': {'a': 1}}\n"
        "h = display(Rich(), display_id='area')\n"
        "h.update(Bundle())\n"
        "display(Rich(), include=['image/png'])\n"
        "display({'text/plain': 'raw'}, raw=True, metadata={'m': 2})\n"
    )
    reply, outputs = execute(kc, code)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert [t for t in _types(outputs) if t != "stream"] == [
        "execute_input",
        "display_data",
        "update_display_data",
        "display_data",
        "display_data",
    ]
    warnings = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    assert "broken repr" in warnings  # reported on stderr, the other formats still shown
    first, update, only_png, raw = (m["content"] for m in outputs if "display" in m["msg_type"])
    assert set(first["data"]) == {
        "text/plain",
        "text/html",
        "image/png",
        "image/jpeg",
        "application/pdf",
        "image/svg+xml",
        "application/javascript",
        "application/json",
        "text/latex",
    }
    assert base64.b64decode(first["data"]["image/jpeg"]) == b"\xff\xd8"
    assert base64.b64decode(first["data"]["application/pdf"]) == b"%PDF"
    assert first["data"]["image/svg+xml"] == "<svg/>"
    assert first["data"]["text/html"] == "<b>r</b>"
    assert base64.b64decode(first["data"]["image/png"]) == b"\x89PNG"
    assert first["data"]["application/json"] == {"k": [1, 2]}
    assert first["data"]["text/latex"] == "$x$"
    assert first["metadata"]["text/latex"] == {"note": 1}
    assert first["data"]["text/plain"].startswith("<__main__.Rich object")
    assert first["transient"] == {"display_id": "area"}
    assert update["transient"] == {"display_id": "area"}
    assert update["data"]["text/markdown"] == "**m**"
    assert update["data"]["application/vnd.custom+json"] == {"a": 1}
    assert set(only_png["data"]) == {"image/png"}
    assert raw["data"] == {"text/plain": "raw"}
    assert raw["metadata"] == {"m": 2}


def test_clear_output_and_semicolon(kc: BlockingKernelClient) -> None:
    reply, outputs = execute(kc, "clear_output(wait=True)\n1 + 1;")
    assert reply["content"]["status"] == "ok"
    assert _types(outputs) == ["execute_input", "clear_output"]
    assert outputs[1]["content"] == {"wait": True}


def test_user_expressions_silent_and_store_history(kc: BlockingKernelClient) -> None:
    before = _reply(kc, kc.execute("zz = 5"))["content"]["execution_count"]
    _drain(kc)
    reply, outputs = execute(
        kc,
        "zz += 1\nzz",
        silent=True,
        user_expressions={"double": "zz * 2", "bad": "no_such_name"},
    )
    assert outputs == []  # silent: no execute_input, no execute_result
    content = reply["content"]
    assert content["execution_count"] == before
    assert content["user_expressions"]["double"]["data"] == {"text/plain": "12"}
    assert content["user_expressions"]["bad"]["status"] == "error"
    assert content["user_expressions"]["bad"]["ename"] == "NameError"
    reply, _ = execute(kc, "zz", store_history=False)
    assert reply["content"]["execution_count"] == before


def test_stream_is_flushed_while_the_cell_still_runs(
    kc: BlockingKernelClient, tmp_path: Path
) -> None:
    flag = tmp_path / "go"
    code = (
        "import os, time\n"
        "print('tick')\n"
        f"while not os.path.exists({str(flag)!r}):\n"
        "    time.sleep(0.01)\n"
    )
    msg_id = kc.execute(code)
    try:
        while True:
            msg = kc.get_iopub_msg(timeout=TIMEOUT)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
                break
        assert msg["content"] == {"name": "stdout", "text": "tick\n"}
    finally:
        flag.touch()  # only now can the cell end
    assert _reply(kc, msg_id)["content"]["status"] == "ok"


def test_kernelspec_install(spec_dir: str, tmp_path: Path) -> None:
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = spec_dir
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    finally:
        if saved is None:
            del os.environ["JUPYTER_PATH"]
        else:
            os.environ["JUPYTER_PATH"] = saved
    assert spec.argv == [sys.executable, "-m", "kernelwire.kernel", "-f", "{connection_file}"]
    assert spec.language == "python"
    assert spec.display_name
    assert spec.metadata["implementation"] == "kernelwire"

    env = {**os.environ, "JUPYTER_DATA_DIR": str(tmp_path / "user-data")}
    done = subprocess.run([*INSTALL, "--user"], env=env, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "user-data" / "kernels" / "kernelwire" / "kernel.json").is_file()
    bad = subprocess.run(
        [*INSTALL, "--prefix", str(tmp_path), "--name", "../escape"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "invalid kernel name" in bad.stderr
    assert not (tmp_path / "escape").exists()


# ------------------------------------------------------------------------------ stdin


def test_input_and_getpass_go_through_stdin(kc: BlockingKernelClient) -> None:
    msg_id = kc.execute(
        "import getpass\nname = input('name? ')\nsecret = getpass.getpass()\n"
        "print(name, len(secret))",
        allow_stdin=True,
    )
    request = kc.get_stdin_msg(timeout=TIMEOUT)
    assert request["msg_type"] == "input_request"
    assert request["content"] == {"prompt": "name? ", "password": False}
    assert request["parent_header"]["msg_id"] == msg_id
    kc.input("Ada")
    request = kc.get_stdin_msg(timeout=TIMEOUT)
    assert request["content"]["password"] is True
    kc.input("s3cret")
    assert _reply(kc, msg_id)["content"]["status"] == "ok"
    streams = [m for m in _outputs(kc, msg_id) if m["msg_type"] == "stream"]
    assert "".join(m["content"]["text"] for m in streams) == "Ada 6\n"


def test_input_without_allow_stdin_raises(kc: BlockingKernelClient) -> None:
    reply, _ = execute(kc, "input('x')", allow_stdin=False)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "StdinNotImplementedError"
    with pytest.raises(Empty):
        kc.get_stdin_msg(timeout=0.2)


# ---------------------------------------------------------------- interrupt, abort


def _start_endless_cell(kc: BlockingKernelClient) -> str:
    msg_id = kc.execute("import time\nwhile True:\n    time.sleep(0.01)")
    while True:  # wait until the cell runs: its execute_input is published just before
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_input":
            return msg_id


def test_interrupt_by_signal_stops_a_sleeping_loop(
    kernel: tuple[KernelManager, BlockingKernelClient], kc: BlockingKernelClient
) -> None:
    msg_id = _start_endless_cell(kc)
    kernel[0].interrupt_kernel()
    reply = _reply(kc, msg_id)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert execute(kc, "'still alive'")[0]["content"]["status"] == "ok"


def test_interrupt_request_on_control(kc: BlockingKernelClient) -> None:
    msg_id = _start_endless_cell(kc)
    request = kc.session.msg("interrupt_request", {})
    kc.control_channel.send(request)
    control_reply = kc.get_control_msg(timeout=TIMEOUT)
    assert control_reply["msg_type"] == "interrupt_reply"
    assert control_reply["parent_header"]["msg_id"] == request["header"]["msg_id"]
    assert _reply(kc, msg_id)["content"]["ename"] == "KeyboardInterrupt"


def test_stop_on_error_aborts_queued_requests(kc: BlockingKernelClient) -> None:
    failing = kc.execute("input()\n1/0", allow_stdin=True)
    queued = kc.execute("print('must not run')")
    kc.get_stdin_msg(timeout=TIMEOUT)  # the first cell runs; the second waits in the queue
    kc.input("")
    assert _reply(kc, failing)["content"]["ename"] == "ZeroDivisionError"
    aborted = _reply(kc, queued)
    assert aborted["content"]["status"] == "aborted"
    outputs = _outputs(kc, queued)
    assert _types(outputs) == ["status", "status"]  # busy, idle: nothing ran


def test_stop_on_error_spares_a_request_sent_after_the_error_reply(
    kc: BlockingKernelClient,
) -> None:
    """Only what was queued when the cell failed is aborted: a client that sends a new
    cell on seeing the error reply gets it run, even while the kernel is still busy
    with the requests that were queued (here 300 kernel_info_requests)."""
    failing = kc.execute("input()\n1/0", allow_stdin=True)
    for _ in range(300):
        kc.kernel_info()
    kc.get_stdin_msg(timeout=TIMEOUT)  # all 300 are queued behind the waiting cell
    kc.input("")
    assert _reply(kc, failing)["content"]["ename"] == "ZeroDivisionError"
    after = kc.execute("'ran'")
    reply = _reply(kc, after)
    assert reply["content"]["status"] == "ok"


# ------------------------------------------------------------------- other requests


def test_complete_inspect_is_complete_history(kc: BlockingKernelClient) -> None:
    execute(kc, "import collections\nmy_value = 1")
    _drain(kc)
    reply = _reply(kc, kc.complete("collections.Ord"))["content"]
    assert reply["matches"] == ["OrderedDict"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (12, 15)
    reply = _reply(kc, kc.complete("x = my_v + 1", cursor_pos=8))["content"]
    assert reply["matches"] == ["my_value"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (4, 8)

    reply = _reply(kc, kc.inspect("collections.OrderedDict(", cursor_pos=24))["content"]
    assert reply["found"] is True
    assert "Dictionary that remembers insertion order" in reply["data"]["text/plain"]
    reply = _reply(kc, kc.inspect("undefined_thing"))["content"]
    assert reply == {"status": "ok", "found": False, "data": {}, "metadata": {}}

    assert _reply(kc, kc.is_complete("for i in x:"))["content"] == {
        "status": "incomplete",
        "indent": "    ",
    }
    assert _reply(kc, kc.is_complete("x = 1"))["content"]["status"] == "complete"
    assert _reply(kc, kc.is_complete("x = )"))["content"]["status"] == "invalid"

    marker = f"marker_{uuid.uuid4().hex}"
    execute(kc, f"{marker} = 3\n{marker}")
    _drain(kc)
    history = _reply(kc, kc.history(hist_access_type="tail", n=1, output=True))["content"]
    [[_session, _line, (source, output)]] = history["history"]
    assert (source, output) == (f"{marker} = 3\n{marker}", "3")
    found = _reply(kc, kc.history(hist_access_type="search", pattern=f"{marker}*"))["content"]
    assert [h[2] for h in found["history"]] == [f"{marker} = 3\n{marker}"]


def test_comms(kc: BlockingKernelClient) -> None:
    unknown = kc.session.msg("comm_open", {"comm_id": "c0", "target_name": "nope", "data": {}})
    kc.shell_channel.send(unknown)
    closes = [m for m in _outputs(kc, unknown["header"]["msg_id"]) if m["msg_type"] == "comm_close"]
    assert [m["content"]["comm_id"] for m in closes] == ["c0"]

    execute(
        kc,
        "from kernelwire.kernel import get_kernel\n"
        "def on_open(comm, msg):\n"
        "    comm.on_msg(lambda m: comm.send({'echo': m['content']['data']}))\n"
        "get_kernel().comms.register_target('echo', on_open)",
    )
    opened = kc.session.msg("comm_open", {"comm_id": "c1", "target_name": "echo", "data": {}})
    kc.shell_channel.send(opened)
    _outputs(kc, opened["header"]["msg_id"])
    info = _reply(kc, kc.comm_info(target_name="echo"))["content"]
    assert info["comms"] == {"c1": {"target_name": "echo"}}
    sent = kc.session.msg("comm_msg", {"comm_id": "c1", "data": {"x": 1}})
    kc.shell_channel.send(sent)
    echoes = [m for m in _outputs(kc, sent["header"]["msg_id"]) if m["msg_type"] == "comm_msg"]
    assert [m["content"] for m in echoes] == [{"comm_id": "c1", "data": {"echo": {"x": 1}}}]
    closed = kc.session.msg("comm_close", {"comm_id": "c1", "data": {}})
    kc.shell_channel.send(closed)
    _outputs(kc, closed["header"]["msg_id"])
    assert _reply(kc, kc.comm_info())["content"]["comms"] == {}


def test_unknown_request_is_ignored(kc: BlockingKernelClient) -> None:
    bogus = kc.session.msg("bogus_request", {})
    kc.shell_channel.send(bogus)
    statuses = _outputs(kc, bogus["header"]["msg_id"])  # busy and idle, no reply
    assert _types(statuses) == ["status", "status"]
    follow_up = _reply(kc, kc.kernel_info())  # replies come in order: none for bogus
    assert follow_up["parent_header"]["msg_type"] == "kernel_info_request"


def test_malformed_request_gets_an_error_reply(kc: BlockingKernelClient) -> None:
    request = kc.session.msg("complete_request", {"code": "abc", "cursor_pos": "not a number"})
    kc.shell_channel.send(request)
    reply = _reply(kc, request["header"]["msg_id"])
    assert reply["msg_type"] == "complete_reply"
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "TypeError"
    assert _reply(kc, kc.complete("ab"))["content"]["status"] == "ok"


# ------------------------------------------------------------------------ bad input


def test_bad_messages_are_dropped_and_kernel_stays_alive(
    kernel: tuple[KernelManager, BlockingKernelClient],
    kc: BlockingKernelClient,
    kernel_log: Path,
) -> None:
    drops_before = _shell_drops(kernel_log.read_text())
    info = kernel[0].get_connection_info()
    good = JCSession(key=info["key"], signature_scheme=info["signature_scheme"])
    wrong = JCSession(key=b"not-the-key", signature_scheme=info["signature_scheme"])
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.linger = 0
    try:
        dealer.connect(channel_url(info, "shell"))
        wrong.send(dealer, wrong.msg("kernel_info_request"))
        dealer.send_multipart([b"garbage"])
        dealer.send_multipart([b"<IDS|MSG>", b"sig", b"{not json", b"{}", b"{}", b"{}"])
        genuine = good.msg("kernel_info_request")
        good.send(dealer, genuine)
        # One connection delivers in order: a reply to anything dropped would come first.
        assert dealer.poll(TIMEOUT * 1000)
        _idents, msg_list = good.feed_identities(dealer.recv_multipart())
        reply = good.deserialize(msg_list)
        assert reply["parent_header"]["msg_id"] == genuine["header"]["msg_id"]
        assert not dealer.poll(0)
    finally:
        dealer.close()
        context.term()
    _wait_for_drops(kernel_log, drops_before + 3)
    log_text = kernel_log.read_text()
    assert "Invalid Signature" in log_text
    assert info["key"].decode() not in log_text
    assert kernel[0].is_alive()
    assert execute(kc, "1")[0]["content"]["status"] == "ok"


def test_wrong_key_client_gets_no_replies(
    kernel: tuple[KernelManager, BlockingKernelClient],
    kc: BlockingKernelClient,
    kernel_log: Path,
    tmp_path: Path,
) -> None:
    drops_before = _shell_drops(kernel_log.read_text())
    info = kernel[0].get_connection_info()
    info["key"] = b"definitely-wrong"
    bad = BlockingKernelClient()
    bad.load_connection_info(info)
    bad.start_channels()
    marker = tmp_path / "should-not-exist"
    try:
        msg_id = bad.execute(f"open({str(marker)!r}, 'w').close()")
        _wait_for_drops(kernel_log, drops_before + 1)  # it arrived, and was dropped
        with pytest.raises(Empty):
            bad.get_shell_msg(timeout=0.2)
        assert execute(kc, "1")[0]["content"]["status"] == "ok"
        assert not marker.exists()
        assert all(m["parent_header"].get("msg_id") != msg_id for m in _iopub_backlog(kc))
    finally:
        bad.stop_channels()


def _iopub_backlog(kc: BlockingKernelClient) -> list[dict[str, Any]]:
    messages = []
    while True:
        try:
            messages.append(kc.get_iopub_msg(timeout=0.05))
        except Empty:
            return messages


def test_every_new_subscriber_is_welcomed(
    kernel: tuple[KernelManager, BlockingKernelClient],
) -> None:
    info = kernel[0].get_connection_info()
    session = JCSession(key=info["key"], signature_scheme=info["signature_scheme"])
    context = zmq.Context()
    try:
        for topic in (b"", b"stream."):
            sub = context.socket(zmq.SUB)
            sub.linger = 0
            sub.setsockopt(zmq.SUBSCRIBE, topic)
            sub.connect(channel_url(info, "iopub"))
            assert sub.poll(TIMEOUT * 1000)
            _idents, msg_list = session.feed_identities(sub.recv_multipart())
            welcome = session.deserialize(msg_list)
            sub.close()
            assert welcome["msg_type"] == "iopub_welcome"
            assert welcome["content"] == {"subscription": topic.decode()}
            assert welcome["parent_header"] == {}
    finally:
        context.term()


# --------------------------------------------------------------------------- shutdown


def test_heartbeat_echoes(kernel: tuple[KernelManager, BlockingKernelClient]) -> None:
    info = kernel[0].get_connection_info()
    context = zmq.Context()
    req = context.socket(zmq.REQ)
    req.linger = 0
    try:
        req.connect(channel_url(info, "hb"))
        for frames in ([b"ping"], [b"two", b"frames"]):
            req.send_multipart(frames)
            assert req.poll(TIMEOUT * 1000)
            assert req.recv_multipart() == frames
    finally:
        req.close()
        context.term()


def test_manual_launch_over_ipc_and_shutdown(tmp_path: Path) -> None:
    """A connection file written by kernelwire.connect (ipc transport), the kernel
    started by hand, a BlockingKernelClient that connects to it without a manager."""
    path, info = write_connection_file(
        tmp_path / "connection.json", transport="ipc", ip=str(tmp_path / "kw")
    )
    log = open(tmp_path / "kernel.log", "w")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen([sys.executable, "-m", "kernelwire.kernel", "-f", path], stderr=log)
    wait_until_serving(info, process)
    kc = BlockingKernelClient()
    kc.load_connection_file(path)
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=TIMEOUT)  # heartbeat first: no manager parents this client
        reply, outputs = execute(kc, "21 * 2")
        assert outputs[-1]["content"]["data"] == {"text/plain": "42"}
        kc.shutdown(restart=True)
        reply = kc.get_control_msg(timeout=TIMEOUT)
        assert reply["msg_type"] == "shutdown_reply"
        assert reply["content"] == {"status": "ok", "restart": True}
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        kc.stop_channels()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=TIMEOUT)
        log.close()


BLOCK_SIGINT_THEN_KERNEL = (
    "import os, signal, sys\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'kernelwire.kernel', '-f', sys.argv[1]])\n"
)


def test_interrupt_works_when_the_launcher_blocks_sigint(tmp_path: Path) -> None:
    """A signal mask survives fork and exec: a kernel launched by a process that blocks
    SIGINT (some CI runners and supervisors do) must still be interruptible."""
    path, info = write_connection_file(tmp_path / "connection.json")
    process = subprocess.Popen(
        [sys.executable, "-c", BLOCK_SIGINT_THEN_KERNEL, path], stderr=subprocess.DEVNULL
    )
    wait_until_serving(info, process)
    kc = BlockingKernelClient()
    kc.load_connection_file(path)
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=TIMEOUT)
        msg_id = _start_endless_cell(kc)
        process.send_signal(signal.SIGINT)
        assert _reply(kc, msg_id)["content"]["ename"] == "KeyboardInterrupt"
        msg_id = _start_endless_cell(kc)
        kc.control_channel.send(kc.session.msg("interrupt_request", {}))
        assert _reply(kc, msg_id)["content"]["ename"] == "KeyboardInterrupt"
    finally:
        kc.stop_channels()
        process.kill()
        process.wait(timeout=TIMEOUT)


def test_shutdown_while_a_cell_runs(spec_dir: str) -> None:
    km, kc = _start(spec_dir)
    try:
        _start_endless_cell(kc)
        kc.shutdown()
        reply = kc.get_control_msg(timeout=TIMEOUT)
        assert reply["content"] == {"status": "ok", "restart": False}
        shutdown_on_iopub = False
        while not shutdown_on_iopub:
            shutdown_on_iopub = kc.get_iopub_msg(timeout=TIMEOUT)["msg_type"] == "shutdown_reply"
        process = km.provisioner.process  # type: ignore[union-attr]
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
        km.cleanup_resources()


def _has_exited(pid: int) -> bool:
    """True once ``pid`` is gone or a zombie (an orphan's reaper may be slow or absent)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads process state from /proc")
def test_kernel_exits_when_its_parent_dies(tmp_path: Path) -> None:
    path, _info = write_connection_file(tmp_path / "connection.json")
    log = tmp_path / "kernel.log"
    launcher = (
        "import os, subprocess, sys\n"
        "env = dict(os.environ, JPY_PARENT_PID=str(os.getpid()))\n"
        "argv = [sys.executable, '-m', 'kernelwire.kernel', '-f', sys.argv[1]]\n"
        "kernel = subprocess.Popen(argv, env=env, stderr=open(sys.argv[2], 'w'))\n"
        "print(kernel.pid)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", launcher, path, str(log)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    kernel_pid = int(done.stdout)  # the launcher has exited: the kernel is an orphan
    try:
        deadline = time.monotonic() + TIMEOUT
        while not _has_exited(kernel_pid):
            assert time.monotonic() < deadline, "the orphaned kernel did not exit"
            time.sleep(0.05)
        assert "is gone: shutting down" in log.read_text()
    finally:
        if not _has_exited(kernel_pid):
            os.kill(kernel_pid, 9)
