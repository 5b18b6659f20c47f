"""The whole forged-request corpus, in the order it is replayed."""
from __future__ import annotations

from tests.security.cases import Case
from tests.security.corpus_add_events import add_event_cases
from tests.security.corpus_connect import connect_cases, demoted_connects, stale_connects
from tests.security.corpus_edge import edge_cases
from tests.security.corpus_events import event_cases, forged_uninstalls, uninstalled_token
from tests.security.corpus_qbo import genuine_changes, qbo_webhook_cases
from tests.security.corpus_frames import app_info_burst, forged_frames, powerless_frames
from tests.security.corpus_placement import placement_cases
from tests.security.corpus_sessions import demoted_admin, demoted_disconnect, session_cases, stale_session


def build_corpus() -> list[Case]:
    """Inert and refused cases first; then each hole of issue 8 on its own portal, the least
    destructive first, so that where a fix is missing its effect cannot disguise another case:
    C's stale session (item 4), D's old token (item 2), B's demoted admin (item 3), A's forged
    uninstall (item 1); item 8's burst last, since a per-address bound may refuse what follows it; after
    it only genuine QuickBooks changes (not bound per address), whose queued pulls run in the background."""
    return (edge_cases() + forged_frames() + powerless_frames() + session_cases() + connect_cases()
            + event_cases() + add_event_cases() + qbo_webhook_cases() + placement_cases()
            + stale_session() + stale_connects()
            + uninstalled_token()
            + demoted_admin() + demoted_connects() + demoted_disconnect()
            + forged_uninstalls()
            + app_info_burst()
            + genuine_changes())
