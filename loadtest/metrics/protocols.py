"""The counters and histograms of the protocol layers (the summary's ``protocols`` section).

A protocol user counts ``<protocol>_<name>`` on its process's recorder, so the counts travel to
the master and add up like every other counter. Every name is declared here, so the summary's
shape (and the ``--ws-check`` paths) is the same whatever ran.
"""

from __future__ import annotations

from typing import Any

#: protocol -> its counters, in the order the summary lists them.
COUNTERS: dict[str, tuple[str, ...]] = {
    "socketio": (
        "connects",  # namespaces connected (CONNECT answered)
        "connect_errors",  # no Engine.IO open packet, or the namespace refused (CONNECT_ERROR)
        "events_sent",  # events emitted, with or without an ack
        "acks_received",  # acks of our events (each one an RTT)
        "events_received",  # events the server pushed
        "acks_sent",  # acks of server events that asked for one
        "pings_answered",  # Engine.IO pings answered with a pong
        "disconnects",  # namespaces the server disconnected
        "invalid",  # packets that broke the protocol
    ),
    "graphql": (
        "connects",  # connection_ack received
        "subscriptions",  # subscribe messages sent for subscriptions
        "queries",  # subscribe messages sent for queries and mutations
        "nexts",  # next messages received
        "completes",  # complete messages received
        "errors",  # error messages received
        "cancels",  # operations we ended (complete sent): silent too long, or the user stopped
        "crossed",  # complete/error received for an operation we had already ended (they crossed)
        "pings_answered",  # server pings answered with a pong
        "invalid",  # messages that broke the protocol
    ),
    "stomp": (
        "connects",  # CONNECTED received
        "subscriptions",  # SUBSCRIBE frames sent
        "sends",  # SEND frames sent
        "receipts",  # RECEIPTs of SEND frames (each one an RTT)
        "messages",  # MESSAGE frames received (deliveries)
        "errors",  # ERROR frames received
        "heartbeats_sent",
        "heartbeats_received",
        "invalid",  # frames that broke the protocol
    ),
}

#: Recorder counter names, all starting at zero.
COUNTER_NAMES: tuple[str, ...] = tuple(f"{p}_{name}" for p, names in COUNTERS.items() for name in names)

#: Histograms: recorder name -> (protocol, summary key, highest value, reporting scale).
HISTOGRAMS: dict[str, tuple[str, str, int, float]] = {
    "graphql_first_next": ("graphql", "first_next_ms", 3_600_000_000, 1000.0),  # µs, reported in ms
    "graphql_events_per_subscription": ("graphql", "events_per_subscription", 1 << 40, 1.0),
}


def section(counters: dict[str, int], histograms: dict[str, Any]) -> dict[str, Any]:
    """Return the summary's ``protocols`` section from a recorder's counters and histograms."""
    out: dict[str, Any] = {
        protocol: {name: counters.get(f"{protocol}_{name}", 0) for name in names}
        for protocol, names in COUNTERS.items()
    }
    for recorder_name, (protocol, key, _, _) in HISTOGRAMS.items():
        out[protocol][key] = histograms[recorder_name].summary()
    return out
