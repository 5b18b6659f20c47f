"""The HTTP edge: a Flask application factory (gunicorn: `webhooks:create_app()`)."""
from __future__ import annotations

from flask import Flask

from config.env import load_env_file
from config.logging import quiet_secret_loggers
from config.settings import Settings, load_settings
from webhooks import edge, errors, i18n, inputs, metrics, quickbooks, session
from webhooks.bitrix24 import bitrix24
from webhooks.connect import connect
from webhooks.health import health
from webhooks.pages import pages
from webhooks.placement import placement
from webhooks.runtime import Runtime

MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app; settings are read here (not at import, with ./.env's) unless given."""
    if settings is None:
        load_env_file()
        settings = load_settings()
    quiet_secret_loggers()  # gunicorn never calls configure_logging
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key
    # Frame POSTs, events and forms are a few kilobytes; werkzeug bounds only multipart bodies.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["qb24"] = Runtime.from_settings(settings)
    edge.init_app(app, settings)  # first: its hook turns routing redirects into relative ones
    quickbooks.init_app(app)  # its body limit (2 MB, not 1) must be set before anything reads the body
    inputs.init_app(app)  # then every request's values are checked before any route reads them
    session.init_app(app)
    i18n.init_app(app)
    metrics.init_app(app)
    errors.init_app(app)
    for blueprint in (health, bitrix24, connect, pages, placement):
        app.register_blueprint(blueprint)
    return app
