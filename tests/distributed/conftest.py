"""Fixtures for tests that launch the trainer in subprocesses (torchrun / accelerate, gloo).

Every launch runs in its own process group with a time limit (see launch_helpers.run_bounded).
"""
from __future__ import annotations

import pytest


@pytest.fixture
def free_port() -> int:
    from launch_helpers import pick_free_port

    return pick_free_port()
