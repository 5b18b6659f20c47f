"""gunicorn settings for production (`gunicorn -c python:config.gunicorn "webhooks:create_app()"`).

The access log is on (stdout) in the combined format minus what may carry a secret: the request
line's query (QuickBooks' callback brings `code` and `state` in it, reference quickbooks-online.md
§7) and the Referer (a URL with a query of its own). `%(U)s` is the path without the query
(gunicorn glogging atoms). config.logging's filter, installed by create_app in every worker, cuts
queries from gunicorn's log records too, so an operator's own --access-logformat stays safe.
"""
from __future__ import annotations

from config.env import load_env_file

load_env_file()  # in the master, before any worker imports the app: ./.env (or QB24_ENV_FILE's) when present

bind = "0.0.0.0:8000"
workers = 3
timeout = 30
accesslog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(M)sms'
