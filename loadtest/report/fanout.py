"""The summary's ``fanout`` section: published, expected, delivered, lost, from merged counters.

Every subscription settles into counters when it ends (:class:`loadtest.metrics.delivery.Settlement`);
most of the entitlement it counts itself (``fanout_expected``). What a subscription still open at
the end of a sequence-mode run was entitled to depends on how many messages each publisher sent,
which only the merged counts know, so it is added here:

    expected = fanout_expected
             + sum over topics t:          from_start[t] * sent[t]
             + sum over (publisher p, t):  open_streams[p|t] * sent[p|t] - open_start[p|t]
    lost     = expected - delivered

``lost`` is not clamped: a negative value would mean a delivery counted outside its window (a
bug, or a server delivering messages no one published), and hiding it would hide that.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from loadtest.metrics.recorder import Recorder

__all__ = ["BARRIER_KEYS", "section", "split_key"]

#: What the barrier adds (``loadtest.plugin.barrier``): subscribers expected and acknowledged
#: when publishing started, when it started, and whether it started without all of them.
BARRIER_KEYS = ("subscribers", "acknowledged", "started_s", "timed_out")


def split_key(key: str) -> tuple[str, str]:
    """Return ``(publisher, topic)`` of a ``publisher|topic`` key (publisher ids have no ``|``)."""
    publisher, _, topic = key.partition("|")
    return publisher, topic


def section(recorder: Recorder) -> dict[str, Any]:
    """Return the ``fanout`` section of a recorder's totals (every value None when no fan-out ran)."""
    counters, keyed = recorder.counters, recorder.keyed
    latency = recorder.histograms["fanout_latency"].summary()
    sent = keyed["fanout_published_by"]
    if not counters["fanout_published"] and not counters["fanout_subscriptions"]:
        return _empty(latency)
    sent_by_topic: Counter[str] = Counter()
    for key, count in sent.items():
        sent_by_topic[split_key(key)[1]] += count
    expected = counters["fanout_expected"]
    expected += sum(n * sent_by_topic[topic] for topic, n in keyed["fanout_from_start"].items())
    starts = keyed["fanout_open_start"]
    expected += sum(n * sent[key] - starts[key] for key, n in keyed["fanout_open_streams"].items())
    delivered = counters["fanout_delivered"]
    modes = keyed["fanout_modes"]
    return {
        "published": counters["fanout_published"],
        "expected": expected,
        "delivered": delivered,
        "lost": expected - delivered,
        "duplicated": counters["fanout_duplicated"],
        "reordered": counters["fanout_reordered"],
        "latency_ms": latency,
        "latency_other_host": counters["fanout_latency_other_host"],
        "publishers": len({split_key(key)[0] for key in sent}),
        "topics": len(sent_by_topic),
        "subscriptions": {
            "acknowledged": counters["fanout_subscriptions"],
            "settled": sum(modes.values()),
            "ended_early": counters["fanout_ended_early"],
            "ordinal": modes.get("ordinal", 0),
            "sequence": modes.get("sequence", 0),
        },
        "barrier": dict.fromkeys(BARRIER_KEYS),
    }


def _empty(latency: dict[str, Any]) -> dict[str, Any]:
    counts = ("published", "expected", "delivered", "lost", "duplicated", "reordered")
    return {
        **dict.fromkeys(counts),
        "latency_ms": latency,
        "latency_other_host": None,
        "publishers": None,
        "topics": None,
        "subscriptions": dict.fromkeys(("acknowledged", "settled", "ended_early", "ordinal", "sequence")),
        "barrier": dict.fromkeys(BARRIER_KEYS),
    }
