"""Process logging: one format, and library loggers that would print secrets kept quiet."""
from __future__ import annotations

import logging

# At DEBUG, urllib3 logs full request lines: Bitrix24's refresh is a GET whose query string
# carries client_secret and refresh_token (reference §2), so it never logs below INFO here.
QUIET_LOGGERS = {"urllib3": logging.INFO, "requests_oauthlib": logging.INFO, "oauthlib": logging.INFO}


def configure_logging(level: str = "INFO") -> None:
    """Configure the root logger once for a CLI process (gunicorn and Celery bring their own)."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    quiet_secret_loggers()


def quiet_secret_loggers() -> None:
    """Floor the loggers that print request URLs at DEBUG, whoever configured logging.

    Each logger gets a level of its own, so a root logger set to DEBUG later cannot lower it.
    """
    for name, floor in QUIET_LOGGERS.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(floor, logger.level))
