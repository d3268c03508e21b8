"""The reference kernel's interrupt rules (kernelwire.kernel.interrupts), in-process.

The end-to-end checks live in test_kernel_jupyter_client.py; these pin down the case a
real kernel only meets under load: an interrupt sent as soon as ``execute_input`` is seen
can land before the cell's code starts, and must still interrupt that cell.
"""

from __future__ import annotations

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
