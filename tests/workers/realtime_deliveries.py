"""What the chaos test's webhooks did, read from the QuickBooks sandbox's delivery log (GET
/_sandbox/webhooks/deliveries: every attempt, its status, and the echoes of an acknowledged delivery
marked `duplicate`) and from the app's /metrics (qb24_events_total{source="qbo"}): every delivery posted
`copies` times, each event recorded once, the order broken at least once."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import requests
from prometheus_client.parser import text_string_to_metric_families

from webhooks.qbo_events import QboEvent, from_cloudevent


@dataclass(frozen=True)
class DeliveryLog:
    attempts: list[dict]  # oldest first; a realm's next delivery waits for this one's acknowledgement

    @property
    def delivered(self) -> list[dict]:
        """The acknowledged first posts (a retry that was answered 200 counts; its echoes do not)."""
        return [a for a in self.attempts if a["acknowledged"] and not a["duplicate"]]

    def copies_problems(self, copies: int) -> list[str]:
        """Every acknowledged delivery posted `copies` times in all, each copy answered 200; none given up."""
        echoes = Counter(a["id"] for a in self.attempts if a["duplicate"] and a["acknowledged"])
        problems = [f"delivery {a['id']}: {1 + echoes[a['id']]} of {copies} copies acknowledged"
                    for a in self.delivered if 1 + echoes[a["id"]] != copies]
        return problems + [f"delivery {a['id']} given up: {a['status']} {a['error']}"
                           for a in self.attempts if a["gave_up"]]

    def events(self) -> list[QboEvent]:
        """The handled events (customer, invoice, payment) of acknowledged deliveries, in arrival order."""
        found = [from_cloudevent(entry) for a in self.delivered for entry in json.loads(a["body"])]
        return [event for event in found if event is not None and event.handled]

    def handled_posted(self, status: int | None) -> int:
        """Handled events in every attempt (first posts and echoes) that ended with this status."""
        return sum(1 for a in self.attempts if a["status"] == status for entry in json.loads(a["body"])
                   if (event := from_cloudevent(entry)) is not None and event.handled)

    def out_of_order(self) -> int:
        """How many events arrived after one of a later change (CloudEvents `time`)."""
        late, newest = 0, None
        for event in self.events():
            if newest is not None and event.occurred_at < newest:
                late += 1
            newest = event.occurred_at if newest is None else max(newest, event.occurred_at)
        return late


def qbo_outcomes(app_url: str) -> Counter[str]:
    """qb24_events_total{source="qbo"} summed per outcome, as scraped from the app's /metrics."""
    response = requests.get(app_url + "/metrics", timeout=10)
    response.raise_for_status()
    outcomes: Counter[str] = Counter()
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "qb24_events_total" and sample.labels.get("source") == "qbo":
                outcomes[sample.labels["outcome"]] += int(sample.value)
    return outcomes
