"""Fixtures for tests that launch the trainer in subprocesses (torchrun / accelerate, gloo).

Every launch runs in its own process group with a time limit (see launch_helpers.run_bounded).
"""
from __future__ import annotations

import pytest


@pytest.fixture
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
