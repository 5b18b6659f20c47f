"""Settings from the environment, validated once at start.

Every variable is read here and nowhere else; a missing or malformed one raises ConfigError
naming it, so a misconfigured deployment fails at boot instead of on the first webhook.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

QBO_ENVIRONMENTS = ("sandbox", "production")
DEFAULT_DATABASE_URL = "sqlite:///" + str(Path("var") / "qb24.db")
# The two regional Bitrix24 OAuth servers (reference bitrix24.md §2: "west" and "east").
DEFAULT_B24_OAUTH_SERVERS = ("https://oauth.bitrix.info", "https://oauth.bitrix24.tech")
DEFAULT_QBO_SIGNUP_URL = "https://quickbooks.intuit.com/signup/"
DEFAULT_B24_JS_URL = "https://api.bitrix24.com/api/v1/"
LOG_FORMATS = ("text", "json")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """The service's whole configuration (see README, `.env.example`)."""

    app_base_url: str
    secret_key: str = field(repr=False)
    token_encryption_key: str = field(repr=False)
    qbo_client_id: str
    qbo_client_secret: str = field(repr=False)
    qbo_redirect_uri: str
    qbo_environment: str
    qbo_verifier_token: str = field(repr=False)
    b24_client_id: str
    b24_client_secret: str = field(repr=False)
    # Connection URLs may carry a password (postgresql://user:pw@…, redis://:pw@…).
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    qbo_api_base: str | None = None
    qbo_web_base: str = "https://app.qbo.intuit.com"
    b24_oauth_servers: tuple[str, ...] = DEFAULT_B24_OAUTH_SERVERS
    qbo_signup_url: str = DEFAULT_QBO_SIGNUP_URL
    b24_js_url: str = DEFAULT_B24_JS_URL
    # Seconds between two questions to Bitrix24 about one unconfirmed ONAPPUNINSTALL (webhooks/uninstall.py).
    b24_uninstall_retry_s: float = 60.0
    # How long a webhook-triggered change pull waits before it runs (workers/tasks.enqueue_pull), so the
    # events of a burst share one QuickBooks CDC call; short next to the 1 s p50 latency target.
    pull_gather_s: float = 0.25
    # The least time between the starts of two webhook-triggered pulls of a realm (workers/changes._paced):
    # under sustained changes each pull then covers more of them, so a pull's ~1-2 Bitrix24 requests fit
    # the standard plan's 2 requests/s (reference §8) instead of draining the bucket; a quiet realm's first
    # change is not delayed. 0: no pacing.
    pull_interval_s: float = 1.0
    # Reverse proxies in front of the app whose X-Forwarded-For entry names the client (None:
    # one when APP_BASE_URL is https, since the app serves plain http; webhooks/edge.py).
    proxy_hops: int | None = None
    # Seconds between two reconciliation pulls of every connected realm (Celery beat, workers/reconcile.py):
    # the bound on how late a change whose webhook was lost reaches Bitrix24.
    reconcile_interval_s: float = 300.0
    # A bearer token that lets a scraper read /metrics through the reverse proxy (webhooks/metrics.py);
    # None: /metrics answers only requests that did not come through a proxy.
    metrics_token: str | None = field(default=None, repr=False)
    # Log lines as plain text or one JSON object each (config/logging.py; LOG_FORMAT).
    log_format: str = "text"

    @property
    def embedded(self) -> bool:
        """No Redis configured: in-process queue, locks and limiter (demo, laptop)."""
        return self.redis_url is None

    @property
    def qbo_discovery_url(self) -> str | None:
        """The OpenID discovery URL when QBO_ENVIRONMENT names one instead of sandbox/production."""
        return None if self.qbo_environment in QBO_ENVIRONMENTS else self.qbo_environment


def _url(env: Mapping[str, str], name: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    value = _required(env, name)
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigError(f"{name} must be an absolute {'/'.join(schemes)} URL, got {value!r}")
    return value.rstrip("/")


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _fernet_key(env: Mapping[str, str], name: str) -> str:
    value = _required(env, name)
    try:  # comma-separated keys rotate: the first encrypts, any decrypts
        for key in value.split(","):
            Fernet(key.strip().encode())
    except (ValueError, TypeError):
        raise ConfigError(f"{name} must be Fernet keys (32 url-safe base64 bytes each), comma-separated") from None
    return value


def load_token_key(env: Mapping[str, str] | None = None) -> str:
    """TOKEN_ENCRYPTION_KEY alone, checked as Settings' is (`qb24 rotate-keys` needs nothing else but the database)."""
    return _fernet_key(os.environ if env is None else env, "TOKEN_ENCRYPTION_KEY")


def load_database_url(env: Mapping[str, str] | None = None) -> str:
    """DATABASE_URL alone (`qb24 migrate` needs nothing else), normalised as Settings.database_url is."""
    return _database_url(os.environ if env is None else env)


def _qbo_environment(env: Mapping[str, str]) -> str:
    value = _required(env, "QBO_ENVIRONMENT")
    if value in QBO_ENVIRONMENTS:
        return value
    if urlsplit(value).scheme in ("http", "https") and urlsplit(value).netloc:
        return value  # intuitlib treats any other value as the discovery document's URL
    raise ConfigError(f"QBO_ENVIRONMENT must be sandbox, production or a discovery-document URL, got {value!r}")


def _oauth_servers(env: Mapping[str, str]) -> tuple[str, ...]:
    value = _optional(env, "B24_OAUTH_SERVERS")
    if value is None:
        return DEFAULT_B24_OAUTH_SERVERS
    servers = tuple(_url({"B24_OAUTH_SERVERS": item}, "B24_OAUTH_SERVERS")
                    for item in value.split(",") if item.strip())
    for server in servers:
        if urlsplit(server).path not in ("", "/"):
            raise ConfigError(f"B24_OAUTH_SERVERS takes base URLs without a path, got {server!r}")
    if not servers:
        raise ConfigError("B24_OAUTH_SERVERS names no server")
    return servers


def _js_url(env: Mapping[str, str]) -> str:
    if _optional(env, "B24_JS_URL") is None:
        return DEFAULT_B24_JS_URL
    _url(env, "B24_JS_URL")
    return env["B24_JS_URL"].strip()  # kept as given: the library's own URL ends in "/"


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = _optional(env, name)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {value!r}") from None
    if not 0 <= seconds <= 86400:
        raise ConfigError(f"{name} must be between 0 and 86400 seconds, got {value!r}")
    return seconds


def _interval(env: Mapping[str, str], name: str, default: float) -> float:
    """A period in seconds: above 0 (a beat entry of 0 s would fire without pause), at most a day."""
    seconds = _seconds(env, name, default)
    if seconds <= 0:
        raise ConfigError(f"{name} must be more than 0 seconds, got {env[name]!r}")
    return seconds


def _database_url(env: Mapping[str, str]) -> str:
    value = _optional(env, "DATABASE_URL") or DEFAULT_DATABASE_URL
    if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        raise ConfigError(f"DATABASE_URL must be a sqlite: or postgresql: URL, got {value.split(':')[0]}:…")
    return value.replace("postgresql://", "postgresql+psycopg://", 1)


def _proxy_hops(env: Mapping[str, str]) -> int | None:
    value = _optional(env, "PROXY_HOPS")
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or int(value) > 5:
        raise ConfigError(f"PROXY_HOPS must be a number of reverse proxies from 0 to 5, got {value!r}")
    return int(value)


def _log_format(env: Mapping[str, str]) -> str:
    value = (_optional(env, "LOG_FORMAT") or "text").lower()
    if value not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be text or json, got {env['LOG_FORMAT']!r}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    redis_url = _optional(env, "REDIS_URL")
    if redis_url is not None:
        redis_url = _url(env, "REDIS_URL", schemes=("redis", "rediss", "unix"))
    api_base = _url(env, "QBO_API_BASE") if _optional(env, "QBO_API_BASE") else None
    web_base = _url(env, "QBO_WEB_BASE") if _optional(env, "QBO_WEB_BASE") else Settings.qbo_web_base
    signup_url = _url(env, "QBO_SIGNUP_URL") if _optional(env, "QBO_SIGNUP_URL") else DEFAULT_QBO_SIGNUP_URL
    js_url = _js_url(env)
    return Settings(
        app_base_url=_url(env, "APP_BASE_URL"),
        secret_key=_required(env, "SECRET_KEY"),
        token_encryption_key=_fernet_key(env, "TOKEN_ENCRYPTION_KEY"),
        qbo_client_id=_required(env, "QBO_CLIENT_ID"),
        qbo_client_secret=_required(env, "QBO_CLIENT_SECRET"),
        qbo_redirect_uri=_url(env, "QBO_REDIRECT_URI"),
        qbo_environment=_qbo_environment(env),
        qbo_verifier_token=_required(env, "QBO_VERIFIER_TOKEN"),
        b24_client_id=_required(env, "B24_CLIENT_ID"),
        b24_client_secret=_required(env, "B24_CLIENT_SECRET"),
        database_url=_database_url(env),
        redis_url=redis_url,
        qbo_api_base=api_base,
        qbo_web_base=web_base,
        b24_oauth_servers=_oauth_servers(env),
        qbo_signup_url=signup_url,
        b24_js_url=js_url,
        b24_uninstall_retry_s=_seconds(env, "B24_UNINSTALL_RETRY_S", Settings.b24_uninstall_retry_s),
        pull_gather_s=_seconds(env, "PULL_GATHER_S", Settings.pull_gather_s),
        pull_interval_s=_seconds(env, "PULL_INTERVAL_S", Settings.pull_interval_s),
        proxy_hops=_proxy_hops(env),
        reconcile_interval_s=_interval(env, "RECONCILE_INTERVAL_S", Settings.reconcile_interval_s),
        metrics_token=_optional(env, "METRICS_TOKEN"),
        log_format=_log_format(env),
    )
