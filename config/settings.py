"""Settings from the environment, validated once at start.

Every variable is read here and nowhere else. Every missing or malformed one is named in one
ConfigError, so a misconfigured deployment fails at boot, with the whole list to fix, instead of
on the first webhook or one variable per restart. The `.env` file is read by the entry points
(config/env.py), never here: `load_settings(env)` reads exactly the mapping it is given.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

QBO_ENVIRONMENTS = ("sandbox", "production")
DEFAULT_DATABASE_URL = "sqlite:///" + str(Path("var") / "qb24.db")
# The two regional Bitrix24 OAuth servers (reference bitrix24.md §2: "west" and "east").
DEFAULT_B24_OAUTH_SERVERS = ("https://oauth.bitrix.info", "https://oauth.bitrix24.tech")
DEFAULT_QBO_SIGNUP_URL = "https://quickbooks.intuit.com/signup/"
DEFAULT_B24_JS_URL = "https://api.bitrix24.com/api/v1/"
LOG_FORMATS = ("text", "json")
# Where Intuit sends the browser back after consent (webhooks/connect.py's callback route).
QBO_CALLBACK_PATH = "/quickbooks/callback"
# SECRET_KEY signs the app page's session cookie (itsdangerous HMAC-SHA1 key derivation): a guessable
# key lets anyone forge an admin's session. 32 characters of token_urlsafe carry 192 bits.
SECRET_KEY_MIN_LENGTH = 32
SECRET_KEY_MIN_DISTINCT = 8  # "k" * 32 is long but no more random than "k"
# Lower-cased, with everything but letters and digits dropped, a key containing one of these was
# copied from an example (.env.example's old "change-me-to-a-long-random-string", Django's
# "django-insecure-…", tutorials' "your-secret-key") rather than generated.
SECRET_KEY_PLACEHOLDERS = ("changeme", "changethis", "replaceme", "yoursecret", "secretkey", "placeholder",
                           "example", "insecure", "notsecret", "longrandom")
GENERATE_SECRET_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """Settings are missing or malformed: `problems` has one line per variable, naming it."""

    def __init__(self, *problems: str) -> None:
        self.problems = list(problems)
        super().__init__(_listed(self.problems))


def _listed(problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return "\n".join([f"{len(problems)} settings are missing or malformed (see .env.example):",
                      *(f"  - {problem}" for problem in problems)])


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
    try:
        make_url(value)
    except (ArgumentError, ValueError):  # the value is not echoed: it may hold the database password
        raise ConfigError("DATABASE_URL is not a valid URL: postgresql://user:password@host:port/database "
                          "or sqlite:///path") from None
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


def _secret_key(env: Mapping[str, str]) -> str:
    """A generated key: long, not one of the examples' placeholders (the value is never echoed)."""
    generate = f"generate one with: {GENERATE_SECRET_KEY}"
    value = _optional(env, "SECRET_KEY")
    if value is None:
        raise ConfigError(f"SECRET_KEY is not set; {generate}")
    letters = "".join(char for char in value.lower() if char.isalnum())
    if any(placeholder in letters for placeholder in SECRET_KEY_PLACEHOLDERS):
        raise ConfigError(f"SECRET_KEY is a placeholder copied from an example, not a random key; {generate}")
    if len(value) < SECRET_KEY_MIN_LENGTH:
        raise ConfigError(f"SECRET_KEY must be at least {SECRET_KEY_MIN_LENGTH} random characters "
                          f"(it signs the app page's session), got {len(value)}; {generate}")
    if len(set(value)) < SECRET_KEY_MIN_DISTINCT:
        raise ConfigError(f"SECRET_KEY repeats fewer than {SECRET_KEY_MIN_DISTINCT} different characters, "
                          f"so it is not random; {generate}")
    return value


def _optional_url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    return _url(env, name) if _optional(env, name) else default


def _redis_url(env: Mapping[str, str]) -> str | None:
    if _optional(env, "REDIS_URL") is None:
        return None
    return _url(env, "REDIS_URL", schemes=("redis", "rediss", "unix"))


def load_database_url(env: Mapping[str, str] | None = None) -> str:
    """DATABASE_URL alone (`qb24 migrate` needs nothing else), normalised as Settings.database_url is."""
    return _database_url(os.environ if env is None else env)


def redirect_uri_outside_base(settings: Settings) -> str | None:
    """Why QBO_REDIRECT_URI is not `<APP_BASE_URL>/quickbooks/callback`, or None when it is.

    Only warned about, since a reverse proxy may rewrite the path. But a mismatch usually means the
    consent ends where the browser does not send the state cookie set by Log in (host of
    APP_BASE_URL, path /quickbooks/; webhooks/connect.py), and the callback refuses it."""
    expected = settings.app_base_url + QBO_CALLBACK_PATH
    if _origin(settings.qbo_redirect_uri) != _origin(settings.app_base_url):
        where = "is on another origin than APP_BASE_URL"
    elif urlsplit(settings.qbo_redirect_uri).path.rstrip("/") != urlsplit(expected).path:
        where = "is not the app's callback path"
    else:
        return None
    return (f"QBO_REDIRECT_URI {settings.qbo_redirect_uri} {where} {settings.app_base_url}; "
            f"the app's callback is {expected}")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default_port


class _Problems:
    """Reads every variable, collecting what is wrong with each instead of stopping at the first."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def read(self, reader: Callable[..., object], *args: object) -> object:
        try:
            return reader(*args)
        except ConfigError as exc:
            self.found.extend(exc.problems)
            return None


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings from `env` (default: the process environment).

    Raises one ConfigError naming every missing or malformed variable."""
    env = os.environ if env is None else env
    problems = _Problems()
    read = problems.read
    values = dict(
        app_base_url=read(_url, env, "APP_BASE_URL"),
        secret_key=read(_secret_key, env),
        token_encryption_key=read(_fernet_key, env, "TOKEN_ENCRYPTION_KEY"),
        qbo_client_id=read(_required, env, "QBO_CLIENT_ID"),
        qbo_client_secret=read(_required, env, "QBO_CLIENT_SECRET"),
        qbo_redirect_uri=read(_url, env, "QBO_REDIRECT_URI"),
        qbo_environment=read(_qbo_environment, env),
        qbo_verifier_token=read(_required, env, "QBO_VERIFIER_TOKEN"),
        b24_client_id=read(_required, env, "B24_CLIENT_ID"),
        b24_client_secret=read(_required, env, "B24_CLIENT_SECRET"),
        database_url=read(_database_url, env),
        redis_url=read(_redis_url, env),
        qbo_api_base=read(_optional_url, env, "QBO_API_BASE", None),
        qbo_web_base=read(_optional_url, env, "QBO_WEB_BASE", Settings.qbo_web_base),
        b24_oauth_servers=read(_oauth_servers, env),
        qbo_signup_url=read(_optional_url, env, "QBO_SIGNUP_URL", DEFAULT_QBO_SIGNUP_URL),
        b24_js_url=read(_js_url, env),
        b24_uninstall_retry_s=read(_seconds, env, "B24_UNINSTALL_RETRY_S", Settings.b24_uninstall_retry_s),
        pull_gather_s=read(_seconds, env, "PULL_GATHER_S", Settings.pull_gather_s),
        pull_interval_s=read(_seconds, env, "PULL_INTERVAL_S", Settings.pull_interval_s),
        proxy_hops=read(_proxy_hops, env),
        reconcile_interval_s=read(_interval, env, "RECONCILE_INTERVAL_S", Settings.reconcile_interval_s),
        metrics_token=_optional(env, "METRICS_TOKEN"),
        log_format=read(_log_format, env),
    )
    if problems.found:
        raise ConfigError(*problems.found)
    settings = Settings(**values)  # type: ignore[arg-type]  # every reader succeeded
    _warn_about_redirect_uri(settings)
    return settings


def _warn_about_redirect_uri(settings: Settings) -> None:
    mismatch = redirect_uri_outside_base(settings)
    if mismatch is not None:
        log.warning("config.redirect_uri_outside_base: %s", mismatch, extra={
            "qbo_redirect_uri": settings.qbo_redirect_uri, "app_base_url": settings.app_base_url})
