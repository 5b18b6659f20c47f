"""gunicorn settings for production (`gunicorn -c python:config.gunicorn "webhooks:create_app()"`).

The access log is on (stdout) in the combined format minus what may carry a secret: the request
line's query (QuickBooks' callback brings `code` and `state` in it, reference quickbooks-online.md
§7) and the Referer (a URL with a query of its own). `%(U)s` is the path without the query
(gunicorn glogging atoms). config.logging's filter cuts queries from gunicorn's log records too,
so an operator's own --access-logformat stays safe.

Logging (config/logging.py): the app's loggers and gunicorn's error log go to stderr, the access
log to stdout, as text or JSON lines (LOG_FORMAT), at LOG_LEVEL (default INFO) for the app's
events. Read here, when gunicorn starts: a bad LOG_FORMAT or LOG_LEVEL stops it at once.

/metrics sums every worker's counters through prometheus_client's multiprocess mode
(https://prometheus.github.io/client_python/multiprocess/): the workers write to
PROMETHEUS_MULTIPROC_DIR, which the master empties before the first worker starts (a temporary
directory when unset), and a worker's live gauges are dropped when it exits.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from config.env import load_env_file

load_env_file()  # in the master, before anything reads the environment: ./.env (or QB24_ENV_FILE's) when present

from config.logging import gunicorn_logconfig  # noqa: E402  (reads LOG_FORMAT/LOG_LEVEL, which .env may set)

bind = "0.0.0.0:8000"
workers = 3
timeout = 30
accesslog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(M)sms'
logconfig_dict = gunicorn_logconfig()

# the files prometheus_client writes (values.py: `{counter,gauge_<mode>,histogram,summary}_<pid>.db`)
METRIC_FILES = ("counter_*.db", "gauge_*.db", "histogram_*.db", "summary_*.db")
_made: list[Path] = []  # the directory on_starting created, removed again on exit


def on_starting(server: Any) -> None:
    """Before any worker imports the app (and prometheus_client, which reads the variable once)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = tempfile.mkdtemp(prefix="qb24-metrics-")
        _made.append(Path(path))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for pattern in METRIC_FILES:  # a previous run's counts would be added to this one's
        for stale in directory.glob(pattern):
            stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    for directory in _made:
        shutil.rmtree(directory, ignore_errors=True)
