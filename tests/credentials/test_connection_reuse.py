"""Token calls of one worker thread go over one kept-alive connection to Microsoft, not a TLS handshake each."""

from __future__ import annotations

import pytest

from microsoft.http import _thread_pool
from tests.credentials.conftest import app_only_grant

pytestmark = pytest.mark.emulator


def _opened() -> tuple[int, int]:
    container = _thread_pool().poolmanager.pools
    pools = [container[key] for key in container.keys()]  # noqa: SIM118 (iterating it is refused)
    return sum(p.num_connections for p in pools), sum(p.num_requests for p in pools)


def test_three_token_requests_open_at_most_one_connection(m365):
    app_only_grant()  # the first may open the connection (and read the discovery document)
    connections, requests = _opened()

    for _ in range(3):
        assert app_only_grant().access_token

    more_connections, more_requests = _opened()
    assert more_requests - requests >= 3
    assert more_connections - connections == 0
