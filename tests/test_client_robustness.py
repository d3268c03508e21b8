"""The clients against kernels that misbehave or overwhelm them: an output callback that
raises, IOPub flooded without pause, a reply sent twice.

The misbehaving kernel is scripted_kernel.py (raw pyzmq sockets and a kernelwire Session in
its own process); the well-behaved one is the reference kernel.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernelwire.client import (
    AsyncClient,
    BlockingClient,
    KernelTimeout,
    aio,
    start_kernel,
)
from kernelwire.client.aio import wait_at_most

SCRIPTED_KERNEL = Path(__file__).with_name("scripted_kernel.py")
KEY = "robustness-test-key"
#: Generous bounds that only turn a hang into a failure.
HANG_GUARD = 120.0
READY_TIMEOUT = 60.0


@pytest.fixture
def scripted_kernel(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The connection info of a fresh scripted kernel process (killed afterwards)."""
    path = tmp_path / "kernel.json"
    process = subprocess.Popen([sys.executable, str(SCRIPTED_KERNEL), str(path), KEY])
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not path.exists():
            assert process.poll() is None, "the scripted kernel exited"
            assert time.monotonic() < deadline, "the scripted kernel wrote no connection file"
            time.sleep(0.05)
        yield {"connection_file": str(path)}
    finally:
        process.kill()
        process.wait(30)


@pytest.fixture(scope="module")
def reference_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("kernel")
    process = start_kernel(connection_file=str(directory / "kernel.json"), cwd=str(directory))
    yield process
    process.cleanup()


def run(coro: Any) -> Any:
    """Run ``coro`` on a fresh loop in a thread, so that even a loop starved for good
    ends the test (a failure) instead of hanging it."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_GUARD)
    assert not thread.is_alive(), f"the event loop did not finish within {HANG_GUARD:g} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


# ---------------------------------------------------------------- 1: output callback errors


def broken_callback(msg: dict[str, Any]) -> None:
    raise RuntimeError("callback broke")


def test_async_client_recovers_after_an_output_callback_raised(reference_kernel: Any) -> None:
    async def scenario() -> None:
        async with AsyncClient(reference_kernel.info, kernel=reference_kernel) as client:
            await client.wait_for_ready(READY_TIMEOUT)
            with pytest.raises(RuntimeError, match="callback broke"):
                await client.execute("print('x')", output_callback=broken_callback, timeout=60)
            # Later requests work: the reader went on filing messages.
            result = await client.execute("40 + 2", timeout=60)
            assert result.result == {"text/plain": "42"}
            assert (await client.kernel_info(timeout=60))["content"]["status"] == "ok"

    run(scenario())


def test_a_callback_error_is_raised_by_its_own_request_only(reference_kernel: Any) -> None:
    """Two requests in flight: the one whose callback raised gets the error, the other
    completes normally."""

    async def scenario() -> None:
        async with AsyncClient(reference_kernel.info, kernel=reference_kernel) as client:
            await client.wait_for_ready(READY_TIMEOUT)
            failing = client.execute("print('a')", output_callback=broken_callback, timeout=60)
            fine = client.execute("print('b')", timeout=60)
            outcomes = await asyncio.gather(failing, fine, return_exceptions=True)
            assert isinstance(outcomes[0], RuntimeError)
            assert not isinstance(outcomes[1], BaseException)
            assert outcomes[1].stdout == "b\n"

    run(scenario())


def test_async_client_recovers_after_an_input_handler_raised(reference_kernel: Any) -> None:
    def broken_handler(prompt: str, password: bool) -> str:
        raise ValueError("handler broke")

    async def scenario() -> None:
        async with AsyncClient(reference_kernel.info, kernel=reference_kernel) as client:
            await client.wait_for_ready(READY_TIMEOUT)
            # The cell gets end-of-input and may fail: the next cell must not be aborted.
            with pytest.raises(ValueError, match="handler broke"):
                await client.execute(
                    "input('? ')", input_handler=broken_handler, stop_on_error=False, timeout=60
                )
            result = await client.execute("40 + 2", timeout=60)
            assert result.result == {"text/plain": "42"}

    run(scenario())


def test_blocking_client_raises_a_callback_error_once(reference_kernel: Any) -> None:
    with BlockingClient(reference_kernel.info, kernel=reference_kernel) as client:
        client.wait_for_ready(READY_TIMEOUT)
        with pytest.raises(RuntimeError, match="callback broke"):
            client.execute("print('x')", output_callback=broken_callback, timeout=60)
        assert client.execute("40 + 2", timeout=60).result == {"text/plain": "42"}


# ---------------------------------------------------------------- 2: IOPub floods


async def ticking_while(awaitable: Any) -> tuple[int, BaseException | None]:
    """Await ``awaitable`` while a ticker task counts how often it got to run; returns the
    count and what the awaitable raised."""
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.ensure_future(ticker())
    error: BaseException | None = None
    try:
        await awaitable
    except Exception as exc:
        error = exc
    stop.set()
    await ticking
    return ticks, error


def test_async_waits_time_out_and_the_loop_stays_responsive_under_a_flood(
    scripted_kernel: dict[str, Any],
) -> None:
    connection = scripted_kernel["connection_file"]

    async def scenario() -> None:
        async with AsyncClient(connection) as flooded, AsyncClient(connection) as bystander:
            await flooded.wait_for_ready(READY_TIMEOUT)
            await bystander.wait_for_ready(READY_TIMEOUT)
            # The flood's own request: its wait ends with the timeout, not a false
            # KernelDied (the heartbeat is answered all along), and the loop ran meanwhile.
            ticks, error = await ticking_while(flooded.execute("flood", timeout=3))
            assert isinstance(error, KernelTimeout), repr(error)
            assert ticks >= 20
            # Another client's wait for a busy kernel, flooded with output that is not its.
            ticks, error = await ticking_while(bystander.kernel_info(timeout=3))
            assert isinstance(error, KernelTimeout), repr(error)
            assert ticks >= 20
            # A client that connects during the flood: the kernel is too busy to be ready.
            async with AsyncClient(connection) as latecomer:
                ticks, error = await ticking_while(latecomer.wait_for_ready(3))
                assert isinstance(error, KernelTimeout), repr(error)
                assert ticks >= 20

    run(scenario())


def test_outputs_nobody_waits_for_are_capped(scripted_kernel: dict[str, Any]) -> None:
    """After a timeout the flood goes on, and the reader keeps reading it: what arrives for
    the request no call waits for is held in a bounded buffer, oldest dropped."""
    cap = 100

    async def scenario() -> None:
        async with AsyncClient(scripted_kernel["connection_file"]) as client:
            client.router.unclaimed_limit = cap
            await client.wait_for_ready(READY_TIMEOUT)
            with pytest.raises(KernelTimeout) as timed_out:
                await client.execute("flood", timeout=2)
            msg_id = timed_out.value.msg_id
            assert msg_id is not None
            held = len(client.router.exchange(msg_id).outputs)
            accepted = client.router.accepted
            deadline = time.monotonic() + HANG_GUARD / 2
            while client.router.accepted < accepted + 10 * cap:
                assert time.monotonic() < deadline, "the flood stopped arriving"
                await asyncio.sleep(0.05)
            assert len(client.router.exchange(msg_id).outputs) == held
            assert len(client.router.unclaimed) <= cap
            assert client.router.dropped_unclaimed > 0
            # Resuming the wait hands over what was kept, after what came before. (No other
            # task runs between this look and the start of the wait: no await between.)
            kept = [msg["msg_id"] for parent_id, msg in client.router.unclaimed]
            assert kept and all(parent_id == msg_id for parent_id, _ in client.router.unclaimed)
            with pytest.raises(KernelTimeout):
                await client.collect_outputs(msg_id, timeout=0.5)
            outputs = client.router.exchange(msg_id).outputs
            assert [msg["msg_id"] for msg in outputs[held : held + len(kept)]] == kept
            assert not any(parent_id == msg_id for parent_id, _ in client.router.unclaimed)

    run(scenario())


def test_blocking_waits_time_out_under_a_flood(scripted_kernel: dict[str, Any]) -> None:
    with BlockingClient(scripted_kernel["connection_file"]) as client:
        client.wait_for_ready(READY_TIMEOUT)
        with pytest.raises(KernelTimeout):
            client.execute("flood", timeout=3)
        with pytest.raises(KernelTimeout):
            client.kernel_info(timeout=3)


# ---------------------------------------------------------------- closing


def test_a_cancelled_bounded_wait_is_cancelled_even_if_its_awaitable_just_completed() -> None:
    """``asyncio.wait_for`` (before 3.12) returns the result instead: the cancelled task
    runs on. That is how a heartbeat task outlived ``close()``, which then waited forever."""

    async def scenario() -> None:
        answer = asyncio.get_running_loop().create_future()
        waiting = asyncio.ensure_future(wait_at_most(answer, 30))
        await asyncio.sleep(0)
        answer.set_result("pong")
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    run(scenario())


def test_async_close_ends_the_clients_tasks_whenever_it_comes(
    scripted_kernel: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Heartbeats back to back, and clients closed at all moments: some close comes just as
    a heartbeat answer arrives. Each close must end (the hang of the flood test, once in a
    dozen runs, made likely)."""
    monkeypatch.setattr(aio, "HEARTBEAT_INTERVAL", 0.001)
    connection = scripted_kernel["connection_file"]

    async def open_and_close(delay: float) -> bool:
        client = AsyncClient(connection)
        await client.start()
        await asyncio.sleep(delay)
        closing = asyncio.ensure_future(client.close())
        closed, _ = await asyncio.wait({closing}, timeout=HANG_GUARD / 4)
        return bool(closed)

    async def scenario() -> None:
        for _ in range(5):
            delays = [index * 0.01 for index in range(20)]
            closed = await asyncio.gather(*(open_and_close(delay) for delay in delays))
            assert all(closed), f"{closed.count(False)} of {len(closed)} closes did not end"

    run(scenario())


# ---------------------------------------------------------------- 4: duplicated replies


DUPLICATES = [
    ("reply twice", "dropped a replayed message on shell"),
    ("reply twice rebuilt", "dropped a second execute_reply on shell"),
]


@pytest.mark.parametrize(("code", "logged"), DUPLICATES)
def test_blocking_client_keeps_the_first_of_two_replies(
    scripted_kernel: dict[str, Any], code: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A replayed copy used to count as refused (MessageRefused: "check the key"), a rebuilt
    second reply used to replace the first: the first reply stands, the other is logged."""
    with BlockingClient(scripted_kernel["connection_file"]) as client:
        client.wait_for_ready(READY_TIMEOUT)
        result = client.execute(code, timeout=60)
        assert result.reply["content"].get("which", "first") == "first"
        assert client.router.replayed + client.router.duplicate_replies == 1
        assert client.execute("1", timeout=60).reply["content"]["status"] == "ok"
    assert any(logged in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(("code", "logged"), DUPLICATES)
def test_async_client_keeps_the_first_of_two_replies(
    scripted_kernel: dict[str, Any], code: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with AsyncClient(scripted_kernel["connection_file"]) as client:
            await client.wait_for_ready(READY_TIMEOUT)
            result = await client.execute(code, timeout=60)
            assert result.reply["content"].get("which", "first") == "first"
            assert client.router.replayed + client.router.duplicate_replies == 1
            assert (await client.execute("1", timeout=60)).reply["content"]["status"] == "ok"

    run(scenario())
    assert any(logged in record.getMessage() for record in caplog.records)
