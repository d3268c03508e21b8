"""Fixtures shared by the Session-core tests: a zmq Context that never lingers, quiet
logs (an unkeyed Session warns that signing is off, which is expected there), and an
interpreter that switches threads often. Plain helpers are in helpers.py."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import zmq

from kernelwire import transport


def pytest_configure(config: pytest.Config) -> None:
    # jupyter_client warns when it reads a naive timestamp (as local time); the oracle
    # tests feed it such strings on purpose.
    config.addinivalue_line(
        "filterwarnings", "ignore:Interpreting naive datetime:DeprecationWarning"
    )


@pytest.fixture
def zmq_ctx() -> Iterator[zmq.Context[Any]]:
    """A private Context, destroyed with linger 0 so no socket outlives the test."""
    context: zmq.Context[Any] = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Silence the 'signing is disabled' warnings of unkeyed Sessions."""
    caplog.set_level(logging.ERROR)


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter can, to make races show."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


@pytest.fixture(params=["pyzmq-internals", "public-pyzmq"])
def pyzmq_paths(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test once with the transport's fast paths over pyzmq's internals and once
    with pyzmq's public API only (what a pyzmq release that changes them gets)."""
    was_on = transport.pyzmq_internals_in_use()
    transport.use_pyzmq_internals(request.param == "pyzmq-internals")
    yield request.param
    transport.use_pyzmq_internals(was_on)
