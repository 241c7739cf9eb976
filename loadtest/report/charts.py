"""The charts over time, drawn by ``page.js`` with ECharts from the time-series points.

Each chart: an id, a title, its lines (a point field of :data:`loadtest.metrics.aggregate.SERIES_FIELDS`,
a label, a colour from Locust's own charts), the decimals its tooltip shows, and a note or "".
"""

from __future__ import annotations

from typing import Any

#: Under the round-trip chart: why Locust's own chart of the same requests looks different.
RTT_NOTE = (
    "Sub-millisecond percentiles from our own histograms. Locust's Response Times chart rounds "
    "every response time to whole milliseconds (to 2 significant digits above 100 ms), so a "
    "0.3 ms RTT shows there as 0."
)

#: The charts over time, drawn by page.js from the time-series points: id, title, the lines
#: (point field, label, colour: Locust's chart colours), decimals shown, and a note or "".
CHARTS: tuple[dict[str, Any], ...] = (
    {
        "id": "sessions",
        "title": "Connected sessions",
        "lines": (("sessions_connected", "connected", "#0099ff"),),
        "digits": 0,
        "note": "",
    },
    {
        "id": "rtt",
        "title": "Round-trip time (ms)",
        "lines": (
            ("rtt_p50_ms", "p50", "#ff9f00"),
            ("rtt_p99_ms", "p99", "#9966cc"),
            ("ping_rtt_p99_ms", "ping p99", "#00ca5a"),
        ),
        "digits": 3,
        "note": RTT_NOTE,
    },
    {
        "id": "closes",
        "title": "Closes per second, by who closed",
        "lines": (
            ("closes_server_per_s", "server", "#ff6d6d"),
            ("closes_client_per_s", "client", "#0099ff"),
            ("closes_abnormal_per_s", "abnormal (nobody)", "#9966cc"),
        ),
        "digits": 2,
        "note": "",
    },
    {
        "id": "messages",
        "title": "Messages per second",
        "lines": (
            ("messages_sent_per_s", "sent", "#00ca5a"),
            ("messages_received_per_s", "received", "#0099ff"),
        ),
        "digits": 1,
        "note": "",
    },
    {
        "id": "handshakes",
        "title": "Handshake failures per second",
        "lines": (("handshake_failures_per_s", "failures", "#ff6d6d"),),
        "digits": 2,
        "note": "",
    },
    {
        "id": "queue",
        "title": "Send-queue bytes p99",
        "lines": (("send_queue_bytes_p99", "p99", "#ff9f00"),),
        "digits": 0,
        "note": "",
    },
)
