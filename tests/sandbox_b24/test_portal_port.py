"""The default portal's fixed port (`qb24 sandbox --portal-port`): served there, kept across a reset,
and a taken port refused without leaving a portal behind."""
from __future__ import annotations

import socket

import pytest
import requests

from sandbox.bitrix24 import Bitrix24Sandbox


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_default_portal_listens_on_the_port_asked_and_keeps_it_across_a_reset() -> None:
    port = free_port()
    sandbox = Bitrix24Sandbox().start(portal_port=port)
    try:
        first = sandbox.default_portal
        assert first.url == f"http://127.0.0.1:{port}" and first.domain == f"127.0.0.1:{port}"
        assert requests.get(first.url + "/", timeout=5).status_code == 200
        requests.post(sandbox.control_url + "/reset", json={}, timeout=10).raise_for_status()
        again = sandbox.default_portal
        assert again.member_id != first.member_id  # a new portal …
        assert again.url == first.url  # … on the same port
        assert again.member_id in requests.get(again.url + "/", timeout=5).text  # served by the new one
        other = sandbox.create_portal()  # portals added later take any free port
        assert other.url != again.url
    finally:
        sandbox.stop()


def test_a_taken_port_is_refused_and_leaves_no_portal() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sandbox = Bitrix24Sandbox()
        try:
            with pytest.raises(OSError):
                sandbox.start(portal_port=port)
            assert sandbox.state.portals == {}
        finally:
            sandbox.stop()
