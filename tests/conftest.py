"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agent_helpers import ServerMode, assert_frames_are_valid


@pytest.fixture(params=[False, True], ids=["lenient", "strict"])
def server_mode(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Run a scenario against the fake server in both modes: as it is, and ``strict`` (only
    what the API's contract guarantees; see ``FakeServerOptions``). Afterwards every frame the
    servers' simulation sent must pass the official types' strict validation."""
    ServerMode.strict = request.param
    ServerMode.servers = []
    try:
        yield request.param
        for server in ServerMode.servers:
            assert_frames_are_valid(server)
    finally:
        ServerMode.strict = False
        ServerMode.servers = []
