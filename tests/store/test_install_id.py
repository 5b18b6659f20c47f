"""The install id that binds sessions to one install of the app (issue 8 item 4; store/portals.py)."""
from __future__ import annotations

from alembic import command
from sqlalchemy import text

from store.db import alembic_config, make_engine, transaction
from store.portals import ensure_portal, portal_by_member_id

ENDPOINTS = {"domain": "p.bitrix24.com", "client_endpoint": "https://p.bitrix24.com/rest/",
             "server_endpoint": "https://oauth.bitrix.info/rest/"}


def test_migration_0005_gives_every_existing_install_an_id_of_its_own(database_url):
    command.upgrade(alembic_config(database_url), "0003")
    engine = make_engine(database_url)
    try:
        with engine.begin() as db:
            for member_id in ("m-a", "m-b"):
                db.execute(text("INSERT INTO portals (member_id, domain, client_endpoint, server_endpoint, status, "
                                "settings, created_at, updated_at) VALUES (:m, 'd', 'c', 's', 'installed', '{}', "
                                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"m": member_id})
        command.upgrade(alembic_config(database_url), "head")
        with engine.connect() as db:
            ids = [row[0] for row in db.execute(text("SELECT install_id FROM portals"))]
    finally:
        engine.dispose()
    assert len(ids) == 2 and all(ids) and ids[0] != ids[1]


def test_a_new_install_gets_a_new_id_and_a_refreshed_one_keeps_it(sessions):
    with transaction(sessions) as session:
        first = ensure_portal(session, member_id="m-1", **ENDPOINTS).install_id
    with transaction(sessions) as session:
        assert ensure_portal(session, member_id="m-1", **ENDPOINTS).install_id == first  # an open, not an install
    with transaction(sessions) as session:
        portal_by_member_id(session, "m-1").status = "uninstalled"
    with transaction(sessions) as session:
        second = ensure_portal(session, member_id="m-1", **ENDPOINTS).install_id
    with transaction(sessions) as session:
        third = ensure_portal(session, member_id="m-1", reinstall=True, **ENDPOINTS).install_id
    assert len({first, second, third}) == 3 and all(len(i) == 32 for i in (first, second, third))
