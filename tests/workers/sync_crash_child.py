"""A worker process for the crash test: runs the engine, and SIGKILLs itself inside a page when told to.

Usage: python -m tests.workers.sync_crash_child SETTINGS_PICKLE MEMBER_ID RUN_ID PAGE_SIZE KILL_AT
KILL_AT = n > 0: the process kills itself in the n-th page commit, after that page's batch writes
reached Bitrix24 and before its links and cursor commit (the window the exactly-once protocol covers);
0: run to the end. The kill is arranged here, by wrapping the engine's commit function; production
code has no test hook.
"""
from __future__ import annotations

import os
import pickle
import signal
import sys

from store.db import make_engine, make_session_factory
from tests.workers.sync_support import bitrix24_client, quickbooks_client
from workers import full_sync


def main(argv: list[str]) -> int:
    with open(argv[1], "rb") as handle:
        settings = pickle.load(handle)
    member_id, run_id, page_size, kill_at = argv[2], int(argv[3]), int(argv[4]), int(argv[5])
    sessions = make_session_factory(make_engine(settings.database_url))
    commit_page, calls = full_sync.commit_page, []

    def commit_then_maybe_die(ctx, bindings):
        if bindings:
            calls.append(len(bindings))
            if len(calls) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)  # mid-page: written in Bitrix24, not yet bound here
        return commit_page(ctx, bindings)

    full_sync.commit_page = commit_then_maybe_die
    status = full_sync.run_full_sync(sessions, run_id, qbo=quickbooks_client(settings, sessions, settings.redis_url),
                                     b24=bitrix24_client(settings, member_id, sessions, settings.redis_url),
                                     page_size=page_size)
    print(status)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
