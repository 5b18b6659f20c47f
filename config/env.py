"""The `.env` file, read by every entry point: the qb24 CLI, gunicorn, Celery and create_app().

Only entry points call `load_env_file`; `load_settings(env)` reads exactly the mapping it is given,
so code (and tests) that pass their own settings never see a stray `.env`. The file is the current
directory's (docker compose passes its variables with `env_file` instead and mounts none), or the
one QB24_ENV_FILE names. The process environment wins: a variable set there, even empty, is kept
(python-dotenv's override=False), as an orchestrator's or a shell's setting should be.
"""
from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

from config.settings import ConfigError

ENV_FILE_VARIABLE = "QB24_ENV_FILE"


def env_file() -> Path | None:
    """The file to read: QB24_ENV_FILE's (which must exist), else ./.env when there is one."""
    named = os.environ.get(ENV_FILE_VARIABLE, "").strip()
    if not named:
        default = Path.cwd() / ".env"
        return default if default.exists() and not default.is_dir() else None
    path = Path(named)
    if not path.exists() or path.is_dir():
        raise ConfigError(f"{ENV_FILE_VARIABLE} names {named}, which is not a file")
    return path


def load_env_file() -> Path | None:
    """Add the file's variables that the process environment lacks; the file read, if any."""
    path = env_file()
    if path is not None:
        # An explicit path: without one python-dotenv searches up from the caller's source file.
        load_dotenv(path, override=False)
    return path
