"""Secrets in urllib3's DEBUG request lines never reach the logs, whatever the level asked for."""
from __future__ import annotations

import logging

from config.logging import configure_logging


def test_debug_level_keeps_urllib3_at_info(caplog):
    configure_logging("DEBUG")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3.connectionpool").debug(
            'GET /oauth/token/?grant_type=refresh_token&client_secret=s3cr3t HTTP/1.1" 200')
        logging.getLogger("qb24.test").debug("kept")
    messages = [r.getMessage() for r in caplog.records]
    assert "kept" in messages
    assert not any("s3cr3t" in m for m in messages)
