"""The HTTP edge: a Flask application factory (gunicorn: `webhooks:create_app()`)."""
from __future__ import annotations

import importlib

from flask import Flask

from config.settings import Settings, load_settings
from webhooks import errors, metrics, session
from webhooks.bitrix24 import bitrix24
from webhooks.connect import connect
from webhooks.health import health
from webhooks.runtime import Runtime


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app; settings are read here (not at import) unless given."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key
    app.extensions["qb24"] = Runtime.from_settings(settings)
    session.init_app(app)
    metrics.init_app(app)
    errors.init_app(app)
    for blueprint in (health, bitrix24, connect, *_optional_blueprints()):
        app.register_blueprint(blueprint)
    return app


def _optional_blueprints() -> list:
    # The app page (webhooks/pages.py) is built in parallel with this module; until it lands the
    # factory serves without it. Any other import error is a real bug and is raised.
    try:
        module = importlib.import_module("webhooks.pages")
    except ModuleNotFoundError as exc:
        if exc.name != "webhooks.pages":
            raise
        return []
    return [module.pages]
