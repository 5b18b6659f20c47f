"""gunicorn settings for production (`gunicorn -c python:config.gunicorn "webhooks:create_app()"`).

The access log is on (stdout) in the combined format minus what may carry a secret: the request
line's query (QuickBooks' callback brings `code` and `state` in it, reference quickbooks-online.md
§7) and the Referer (a URL with a query of its own). `%(U)s` is the path without the query
(gunicorn glogging atoms). config.logging's filter cuts queries from gunicorn's log records too,
so an operator's own --access-logformat stays safe.

Logging (config/logging.py): the app's loggers and gunicorn's error log go to stderr, the access
log to stdout, as text or JSON lines (LOG_FORMAT), at LOG_LEVEL (default INFO) for the app's
events. Read here, when gunicorn starts: a bad LOG_FORMAT or LOG_LEVEL stops it at once.
"""
from __future__ import annotations

from config.logging import gunicorn_logconfig

bind = "0.0.0.0:8000"
workers = 3
timeout = 30
accesslog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(M)sms'
logconfig_dict = gunicorn_logconfig()
