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
