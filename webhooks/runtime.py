"""What the web process shares across requests: settings, database sessions, Redis."""
from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from store.db import make_engine, make_session_factory


@dataclass
class Runtime:
    settings: Settings
    sessions: sessionmaker[Session]
    redis: redis.Redis | None

    @classmethod
    def from_settings(cls, settings: Settings) -> "Runtime":
        client = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None
        return cls(settings, make_session_factory(make_engine(settings.database_url)), client)


def runtime() -> Runtime:
    return current_app.extensions["qb24"]
