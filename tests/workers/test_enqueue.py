"""A run is queued only after its row commits; a broker that refuses the task fails the run with the
reason instead of leaving it pending forever (which would also block every later Start sync)."""
from __future__ import annotations

import pytest

from config.settings import load_settings
from store.db import migrate, transaction
from store.models import SyncRun
from store.portals import ensure_portal
from tests.config.test_settings import VALID
from workers.context import Services
from workers.runs import start_run
from workers.tasks import EnqueueFailed, enqueue_full_sync


def test_an_unreachable_broker_fails_the_run_with_a_reason(tmp_path):
    url = f"sqlite:///{tmp_path / 'qb24.db'}"
    migrate(url)
    # Nothing listens on port 1: the broker refuses the connection.
    services = Services.from_settings(load_settings({**VALID, "DATABASE_URL": url, "REDIS_URL": "redis://127.0.0.1:1/0"}))
    try:
        with transaction(services.sessions) as session:
            portal = ensure_portal(session, member_id="m-1", domain="m-1.bitrix24.com",
                                   client_endpoint="https://m-1.bitrix24.com/rest/",
                                   server_endpoint="https://oauth.bitrix.info/rest/")
            run_id = start_run(session, portal.id).id
        with pytest.raises(EnqueueFailed, match="could not be queued"):
            enqueue_full_sync(services, run_id)
        with services.sessions() as session:
            run = session.get(SyncRun, run_id)
            assert run.status == "failed" and "start it again" in run.error and run.finished_at
            assert start_run(session, portal.id).status == "pending"  # the portal is not blocked
    finally:
        services.close()
