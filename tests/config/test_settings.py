"""Settings: every variable validated at start, errors name the variable and never echo a secret."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from config.settings import DEFAULT_DATABASE_URL, ConfigError, load_settings

KEY = Fernet.generate_key().decode()
VALID = {
    "APP_BASE_URL": "https://qb24.example.com/",
    "SECRET_KEY": "Zq8vN2xL5rT0wY7kP4mB1cH6jF9dS3gA-session",
    "TOKEN_ENCRYPTION_KEY": KEY,
    "QBO_CLIENT_ID": "ABc123",
    "QBO_CLIENT_SECRET": "qbo-client-secret",
    "QBO_REDIRECT_URI": "https://qb24.example.com/quickbooks/callback",
    "QBO_ENVIRONMENT": "production",
    "QBO_VERIFIER_TOKEN": "verifier-secret",
    "B24_CLIENT_ID": "app.6543.1234",
    "B24_CLIENT_SECRET": "b24-client-secret",
}


def test_valid_environment_loads_with_embedded_defaults():
    settings = load_settings(VALID)
    assert settings.app_base_url == "https://qb24.example.com"
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.embedded and settings.redis_url is None
    assert settings.qbo_discovery_url is None


@pytest.mark.parametrize("name", sorted(VALID))
def test_each_required_variable_is_named_when_missing(name):
    env = {k: v for k, v in VALID.items() if k != name}
    with pytest.raises(ConfigError, match=name):
        load_settings(env)


@pytest.mark.parametrize("name,value", [
    ("APP_BASE_URL", "qb24.example.com"),
    ("QBO_REDIRECT_URI", "ftp://x/callback"),
    ("TOKEN_ENCRYPTION_KEY", "not-a-fernet-key"),
    ("QBO_ENVIRONMENT", "staging"),
    ("REDIS_URL", "http://127.0.0.1:6379"),
    ("DATABASE_URL", "mysql://root@localhost/qb24"),
    ("QBO_API_BASE", "localhost:9000/v3"),
    ("QBO_WEB_BASE", "app.qbo.intuit.com"),
    ("B24_OAUTH_SERVERS", "oauth.bitrix.info"),
    ("B24_OAUTH_SERVERS", "https://oauth.bitrix.info/rest/"),
    ("B24_OAUTH_SERVERS", " , "),
    ("QBO_SIGNUP_URL", "quickbooks.intuit.com/signup"),
    ("B24_JS_URL", "//api.bitrix24.com/api/v1/"),
    ("B24_UNINSTALL_RETRY_S", "soon"),
    ("B24_UNINSTALL_RETRY_S", "-1"),
    ("B24_UNINSTALL_RETRY_S", "nan"),
    ("PROXY_HOPS", "one"),
    ("PROXY_HOPS", "-1"),
    ("PROXY_HOPS", "9"),
    ("RECONCILE_INTERVAL_S", "0"),
    ("RECONCILE_INTERVAL_S", "-300"),
    ("RECONCILE_INTERVAL_S", "often"),
    ("RECONCILE_INTERVAL_S", "172800"),
])
def test_malformed_values_are_refused_by_name(name, value):
    with pytest.raises(ConfigError, match=name) as info:
        load_settings({**VALID, name: value})
    assert "secret" not in str(info.value)


def test_discovery_url_environment_and_overrides():
    settings = load_settings({**VALID, "QBO_ENVIRONMENT": "http://127.0.0.1:9000/.well-known/openid_configuration",
                              "QBO_API_BASE": "http://127.0.0.1:9000/v3/", "REDIS_URL": "redis://127.0.0.1:6379/0",
                              "DATABASE_URL": "postgresql://postgres@127.0.0.1/test"})
    assert settings.qbo_discovery_url.endswith("/openid_configuration")
    assert settings.qbo_api_base == "http://127.0.0.1:9000/v3"
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert not settings.embedded


def test_reconcile_interval_defaults_to_five_minutes_and_takes_fractions():
    assert load_settings(VALID).reconcile_interval_s == 300
    assert load_settings({**VALID, "RECONCILE_INTERVAL_S": "0.5"}).reconcile_interval_s == 0.5


def test_secrets_stay_out_of_repr():
    text = repr(load_settings(VALID))
    for secret in (VALID["SECRET_KEY"], KEY, "qbo-client-secret", "verifier-secret", "b24-client-secret"):
        assert secret not in text


def test_bitrix24_and_signup_defaults():
    settings = load_settings(VALID)
    assert settings.b24_oauth_servers == ("https://oauth.bitrix.info", "https://oauth.bitrix24.tech")
    assert settings.qbo_signup_url.startswith("https://quickbooks.intuit.com/")
    assert settings.b24_js_url == "https://api.bitrix24.com/api/v1/"
    assert settings.b24_uninstall_retry_s == 60.0
    assert load_settings({**VALID, "B24_UNINSTALL_RETRY_S": "0"}).b24_uninstall_retry_s == 0.0


def test_bitrix24_overrides_for_the_sandbox():
    settings = load_settings({**VALID, "B24_OAUTH_SERVERS": "http://127.0.0.1:8800/, https://oauth.bitrix.info",
                              "B24_JS_URL": "http://127.0.0.1:8801/api/v1/",
                              "QBO_SIGNUP_URL": "http://127.0.0.1:8700/signup/"})
    assert settings.b24_oauth_servers == ("http://127.0.0.1:8800", "https://oauth.bitrix.info")
    assert settings.b24_js_url == "http://127.0.0.1:8801/api/v1/"
    assert settings.qbo_signup_url == "http://127.0.0.1:8700/signup"


def test_proxy_hops_defaults_to_unset_and_reads_a_small_number():
    """Unset: webhooks/edge.py derives it from APP_BASE_URL (1 for https, TLS ends at a proxy)."""
    assert load_settings(VALID).proxy_hops is None
    assert load_settings({**VALID, "PROXY_HOPS": "2"}).proxy_hops == 2
    assert load_settings({**VALID, "PROXY_HOPS": "0"}).proxy_hops == 0
