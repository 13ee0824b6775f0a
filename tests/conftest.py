"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agent_helpers import ServerMode


@pytest.fixture(params=[False, True], ids=["lenient", "strict"])
def server_mode(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Run a scenario against the fake server in both modes: as it is, and ``strict`` (only
    what the API's contract guarantees; see ``FakeServerOptions``)."""
    ServerMode.strict = request.param
    try:
        yield request.param
    finally:
        ServerMode.strict = False
