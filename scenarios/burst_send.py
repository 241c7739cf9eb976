"""Burst send: bursts of messages (or a steady rate) measuring RTT under load and backpressure.

    locust -f scenarios/burst_send.py --headless -u 50 -r 50 -t 1m \
        --ws-burst-size 20 --ws-message-size 512 --ws-burst-interval 0.5 [--ws-rate 200] \
        [--ws-binary] [--ws-fragment-size 128] [--ws-batch] [--ws-sndbuf 65536]

Every message is a request matched to its echo. rtt_scheduled_ms is measured from each burst's
scheduled send time (a stalled sender cannot hide its own delay), rtt_ms from the actual send;
throughput, send-queue bytes, send stall time and threshold crossings are in the summary.
The engine sends the bursts (``traffic``): a burst goes at its scheduled time once every reply of
the previous one is in.
"""

from loadtest import WebSocketUser
from loadtest.plugin import scenario


class BurstUser(WebSocketUser):
    scenario_options = ("burst", "message")  # its --ws-* options show in the web UI form
    traffic = scenario.burst_traffic  # the engine sends the bursts, on their schedule
