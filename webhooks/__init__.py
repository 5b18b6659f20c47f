"""The HTTP edge: a Flask application factory (gunicorn: `webhooks:create_app()`)."""
from __future__ import annotations

from flask import Flask

from config.settings import Settings, load_settings
from webhooks.health import health
from webhooks.runtime import Runtime


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app; settings are read here (not at import) unless given."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key
    app.extensions["qb24"] = Runtime.from_settings(settings)
    app.register_blueprint(health)
    return app
