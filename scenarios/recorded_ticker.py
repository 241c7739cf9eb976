"""Replay of ticker.har, written by `loadtest har`: 1 recorded connection.

    locust -f scenarios/recorded_ticker.py --host ws://localhost:8080 -u 10 -r 10 -t 1m

Each user replays one recorded connection (round robin over the recordings below): the client's
messages at their recorded offsets (--ws-har-speed 2 is twice as fast, 0 as fast as possible), the
recorded close, then again on a new connection (after the --ws-reconnect delay). Replies matched by
a correlation field are Locust requests with their RTT; each replay is a `replay <label>` row.
Secrets were not written here: --ws-token and --ws-cookie give them at run time. Edit freely, and
review the replacements listed above each recording.
"""

from loadtest.har.replay import Corr, HarUser, Recording, Send

# ticker: ws://localhost:8080/ws/ticker (recorded 2024-05-14 09:46:40 UTC)
# 6 s, 6 client messages, 12 server messages; 6 answered by "id" (RTT measured)
# Replaced (review them):
#   steps 1-6 id: per request -> Corr() (correlation: a new value per request; its reply gives the RTT)
TICKER = Recording(
    label="ticker",
    url="ws://localhost:8080/ws/ticker",
    path="/ws/ticker",
    headers={
        "Accept-Encoding": "gzip, deflate, br, zstd",
        "Accept-Language": "en-GB,en;q=0.9",
        "Cache-Control": "no-cache",
        "Pragma": "no-cache",
        "User-Agent": (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0.0.0 Safari/537.36"
        ),
    },
    origin="http://localhost:8080",
    correlation="id",
    close_at_s=6.0,
    steps=(
        Send(0.5, {"type": "subscribe", "id": Corr(), "symbol": "BTC-EUR"}, name="subscribe"),
        Send(1.5, {"type": "subscribe", "id": Corr(), "symbol": "ETH-EUR"}, name="subscribe"),
        Send(2.5, {"type": "subscribe", "id": Corr(), "symbol": "SOL-EUR"}, name="subscribe"),
        Send(3.5, {"type": "subscribe", "id": Corr(), "symbol": "ADA-EUR"}, name="subscribe"),
        Send(4.5, {"type": "subscribe", "id": Corr(), "symbol": "XRP-EUR"}, name="subscribe"),
        Send(5.5, {"type": "subscribe", "id": Corr(), "symbol": "DOT-EUR"}, name="subscribe"),
    ),
)


class RecordedUser(HarUser):
    scenario_options = ("har",)  # --ws-har-speed shows in the web UI form
    recordings = (TICKER,)
