"""Issue 12 item 4: one error naming every bad variable, SECRET_KEY placeholders and short keys refused,
a QBO_REDIRECT_URI outside APP_BASE_URL warned about."""
from __future__ import annotations

import logging
import secrets
import shlex
import string
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import (GENERATE_SECRET_KEY, QBO_CALLBACK_PATH, SECRET_KEY_MIN_LENGTH, ConfigError,
                             load_settings)
from tests.config.test_settings import VALID

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = ("APP_BASE_URL", "SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "QBO_CLIENT_ID", "QBO_CLIENT_SECRET",
            "QBO_REDIRECT_URI", "QBO_ENVIRONMENT", "QBO_VERIFIER_TOKEN", "B24_CLIENT_ID", "B24_CLIENT_SECRET")
# 62 different characters (fixed: pytest-xdist workers must collect the same parameters).
ALPHABET = string.ascii_letters + string.digits


def test_every_problem_is_named_at_once_one_per_line():
    env = {**VALID, "SECRET_KEY": "short", "TOKEN_ENCRYPTION_KEY": "not-a-fernet-key", "PROXY_HOPS": "many",
           "LOG_FORMAT": "xml"}
    del env["APP_BASE_URL"], env["QBO_ENVIRONMENT"]
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    named = ["APP_BASE_URL", "SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "QBO_ENVIRONMENT", "PROXY_HOPS",
             "LOG_FORMAT"]
    assert [problem.split()[0] for problem in info.value.problems] == named
    header, *lines = str(info.value).splitlines()
    assert header.startswith("6 settings are missing or malformed")
    assert [line.split()[1] for line in lines] == named  # "  - NAME …", in the order of .env.example
    assert "is not set" in lines[0] and "Fernet" in lines[2] and "xml" in lines[5]
    assert isinstance(info.value, ValueError)  # callers catching ValueError keep working


def test_an_empty_environment_names_every_required_variable():
    with pytest.raises(ConfigError) as info:
        load_settings({})
    assert [problem.split()[0] for problem in info.value.problems] == list(REQUIRED)
    assert all(name in str(info.value) for name in REQUIRED)


def test_a_single_problem_is_a_single_line():
    with pytest.raises(ConfigError) as info:
        load_settings({**VALID, "PROXY_HOPS": "9"})
    assert info.value.problems == [str(info.value)] and "\n" not in str(info.value)
    assert str(info.value).startswith("PROXY_HOPS must be")


@pytest.mark.parametrize("key,why", [
    ("change-me-to-a-long-random-string", "placeholder"),  # .env.example's value until issue 12
    ("changeme", "placeholder"),
    ("CHANGE_ME_7f3a9c1e5b2d8f4a6c0e9b1d3f5a7c9e", "placeholder"),
    ("please-replace-me-with-something-random-0123", "placeholder"),
    ("your-secret-key-goes-here-0123456789abcdef", "placeholder"),
    ("django-insecure-0123456789abcdefghijklmnopqrstuv", "placeholder"),
    ("secret", "at least 32"),
    (ALPHABET[:SECRET_KEY_MIN_LENGTH - 1], "at least 32"),
    ("k" * 64, "fewer than 8 different"),
    ((ALPHABET[:7] * 5)[:SECRET_KEY_MIN_LENGTH], "fewer than 8 different"),
])
def test_a_placeholder_short_or_repetitive_secret_key_is_refused(key, why):
    with pytest.raises(ConfigError) as info:
        load_settings({**VALID, "SECRET_KEY": key})
    message = str(info.value)
    assert message.startswith("SECRET_KEY") and why in message
    assert GENERATE_SECRET_KEY in message  # says how to make a good one
    assert key not in message.replace(GENERATE_SECRET_KEY, "")  # never echoed, not even a bad one


@pytest.mark.parametrize("key", [
    ALPHABET[:SECRET_KEY_MIN_LENGTH],  # exactly 32 characters
    (ALPHABET[:8] * 4)[:SECRET_KEY_MIN_LENGTH],  # exactly 8 different ones
    "Zq8vN2xL5rT0wY7kP4mB1cH6jF9dS3gA-session",
])
def test_a_random_secret_key_is_accepted_from_the_boundary_up(key):
    assert load_settings({**VALID, "SECRET_KEY": key}).secret_key == key


def test_generated_secret_keys_are_accepted():
    for key in (secrets.token_urlsafe(32), secrets.token_hex(16), secrets.token_hex(32)):
        assert load_settings({**VALID, "SECRET_KEY": key}).secret_key == key


def test_an_unset_secret_key_says_how_to_generate_one():
    with pytest.raises(ConfigError, match="SECRET_KEY is not set; generate one with: python3 -c"):
        load_settings({**VALID, "SECRET_KEY": " "})


def test_the_generation_command_given_makes_an_accepted_key_and_env_example_gives_it():
    command = shlex.split(GENERATE_SECRET_KEY)
    assert command[0] == "python3"
    generated = subprocess.run([sys.executable, *command[1:]], capture_output=True, text=True, check=True)
    key = generated.stdout.strip()
    assert load_settings({**VALID, "SECRET_KEY": key}).secret_key == key
    example = (ROOT / ".env.example").read_text().splitlines()
    at = example.index("SECRET_KEY=")  # empty: a copied file never carries a usable key
    assert example[at - 1] == f"# Generate: {GENERATE_SECRET_KEY}"


def _redirect_warnings(caplog, base: str, redirect: str) -> list[logging.LogRecord]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="config.settings"):
        load_settings({**VALID, "APP_BASE_URL": base, "QBO_REDIRECT_URI": redirect})
    return [record for record in caplog.records if record.name == "config.settings"]


@pytest.mark.parametrize("base,redirect,why", [
    ("https://qb24.example.com", "https://other.example.com/quickbooks/callback", "another origin"),
    ("https://qb24.example.com", "http://qb24.example.com/quickbooks/callback", "another origin"),
    ("https://qb24.example.com", "https://qb24.example.com:8443/quickbooks/callback", "another origin"),
    ("https://qb24.example.com", "https://qb24.example.com/callback", "not the app's callback path"),
    ("https://example.com/qb24", "https://example.com/quickbooks/callback", "not the app's callback path"),
])
def test_a_redirect_uri_outside_the_base_url_is_warned_about_once_naming_both(caplog, base, redirect, why):
    [record] = _redirect_warnings(caplog, base, redirect)
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert f"QBO_REDIRECT_URI {redirect} " in message and f" {base};" in message and why in message
    assert message.endswith(f"the app's callback is {base}{QBO_CALLBACK_PATH}")
    assert (record.qbo_redirect_uri, record.app_base_url) == (redirect, base)


@pytest.mark.parametrize("base,redirect", [
    ("https://qb24.example.com/", "https://qb24.example.com/quickbooks/callback"),
    ("https://QB24.example.com", "https://qb24.example.com:443/quickbooks/callback/"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000/quickbooks/callback"),
    ("https://example.com/qb24", "https://example.com/qb24/quickbooks/callback"),
])
def test_the_apps_own_callback_is_not_warned_about(caplog, base, redirect):
    assert _redirect_warnings(caplog, base, redirect) == []


def test_the_callback_path_checked_is_the_apps_callback_route(tmp_path):
    from webhooks import create_app

    app = create_app(load_settings({**VALID, "DATABASE_URL": f"sqlite:///{tmp_path / 'routes.db'}"}))
    assert QBO_CALLBACK_PATH in {rule.rule for rule in app.url_map.iter_rules()}


def test_load_settings_with_a_mapping_never_reads_a_dot_env(tmp_path, monkeypatch):
    """Only entry points read .env (config/env.py): settings built from a mapping are that mapping's."""
    (tmp_path / ".env").write_text("PROXY_HOPS=3\nLOG_FORMAT=json\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QB24_ENV_FILE")
    settings = load_settings(VALID)
    assert settings.proxy_hops is None and settings.log_format == "text"
