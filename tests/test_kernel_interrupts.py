"""The reference kernel's interrupt rules (kernelwire.kernel.interrupts), in-process.

The end-to-end checks live in test_kernel_jupyter_client.py; these pin down the case a
real kernel only meets under load: an interrupt sent as soon as ``execute_input`` is seen
can land before the cell's code starts, and must still interrupt that cell.
"""

from __future__ import annotations

import threading

import pytest

from kernelwire.kernel.interrupts import InterruptGate


def test_idle_interrupt_is_ignored_and_not_kept() -> None:
    gate = InterruptGate()
    assert gate.on_signal() is False
    gate.request_started()
    with gate.user_code():
        pass  # the earlier, idle-time interrupt does not hit this request


def test_interrupt_inside_user_code_raises_at_once() -> None:
    gate = InterruptGate()
    gate.request_started()
    with pytest.raises(KeyboardInterrupt), gate.user_code():
        gate.on_signal()
    assert not gate.in_user_code


def test_interrupt_before_the_code_starts_interrupts_it() -> None:
    gate = InterruptGate()
    gate.request_started()
    assert gate.on_signal() is True  # between the request's arrival and its code
    ran = []
    with pytest.raises(KeyboardInterrupt), gate.user_code():
        ran.append(True)
    assert ran == []
    with gate.user_code():  # raised once, not again
        ran.append(True)
    assert ran == [True]


def test_interrupt_after_the_code_is_dropped_with_the_request() -> None:
    gate = InterruptGate()
    gate.request_started()
    with gate.user_code():
        pass
    assert gate.on_signal() is True  # while the reply is being sent
    gate.request_finished()
    assert not gate.in_request
    gate.request_started()
    with gate.user_code():
        pass  # the next request is not hit by its predecessor's late interrupt


def test_an_interrupt_during_deferred_work_is_raised_when_it_is_done() -> None:
    """A message being sent from user code (a print) is never cut in half."""
    gate = InterruptGate()
    gate.request_started()
    done = []
    with pytest.raises(KeyboardInterrupt), gate.user_code():
        with gate.deferred():
            gate.on_signal()  # the SIGINT handler, between two frames of a message
            done.append("the rest of the message")
        done.append("after the message: not reached")
    assert done == ["the rest of the message"]
    assert not gate.in_user_code and not gate.pending


def test_deferred_work_that_fails_raises_its_own_error_and_nests() -> None:
    """A send that fails inside user code raises its own error, not a KeyboardInterrupt
    that arrived meanwhile; deferred work inside deferred work defers to the outer one."""
    gate = InterruptGate()
    gate.request_started()
    with gate.user_code():
        with pytest.raises(OSError), gate.deferred():
            gate.on_signal()
            raise OSError("the socket is gone")
        assert gate.in_user_code and gate.pending
        gate.pending = False
        with pytest.raises(KeyboardInterrupt), gate.deferred():
            with gate.deferred():
                gate.on_signal()
            assert not gate.in_user_code  # the inner one ended: still deferred
        assert gate.in_user_code and not gate.pending


def test_deferred_work_outside_user_code_or_in_another_thread_is_plain() -> None:
    gate = InterruptGate()
    gate.request_started()
    with gate.deferred():  # not in user code: nothing changes
        assert gate.on_signal() is True  # remembered for the request, as before
    assert gate.pending
    gate.request_finished()
    gate.request_started()
    seen = []

    def in_thread() -> None:
        with gate.deferred():
            seen.append(gate.in_user_code)

    with gate.user_code():
        worker = threading.Thread(target=in_thread)
        worker.start()
        worker.join()
    assert seen == [True]  # another thread does not touch the main thread's state


def test_settled_work_inside_a_hook_drops_a_late_interrupt_and_user_code_nests() -> None:
    """KernelBase runs the whole do_execute hook as user code; a hook reporting its result
    (the Python kernel publishing the error) does it settled: an interrupt arriving then
    is too late for the cell and is dropped, not raised into the report."""
    gate = InterruptGate()
    gate.request_started()
    with gate.user_code():
        with gate.settled():
            assert gate.on_signal() is True  # remembered, not raised
        assert gate.in_user_code and not gate.pending
        with gate.user_code():  # a user expression evaluated by the hook
            pass
        assert gate.in_user_code  # the inner block restored the outer state
    assert not gate.in_user_code
