"""Heartbeat idle: sessions held open for a long time, with a heartbeat every interval.

    locust -f scenarios/heartbeat_idle.py --headless -u 100 -r 50 -t 10m \
        --ws-heartbeat-interval 30 --ws-heartbeat-kind protocol --ws-pong-timeout 10

Reports pong RTT (ping_rtt_ms), sessions declared dead when a pong is missing (closes.abnormal_reasons.dead),
and the lifetime and idle age at the end of every session (session_ends); sessions that all die
at one idle age are named as a likely proxy or load-balancer idle timeout (idle_timeout_suspects).
--ws-heartbeat-interval 0 turns heartbeats off: the sessions just idle. --ws-sessions-per-user N
gives each user N sessions, all beating at once (a soak of many sessions, few Locust users).
"""

from locust import task

from loadtest import WebSocketUser
from loadtest.plugin import scenario


class IdleUser(WebSocketUser):
    scenario_options = ("heartbeat",)  # its --ws-* options show in the web UI form

    def wait_time(self) -> float:
        return scenario.heartbeat_wait(self)

    @task
    def beat(self) -> None:
        scenario.heartbeat(self)
