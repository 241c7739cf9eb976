"""STOMP 1.2 over WebSocket: every user subscribes to one topic and sends to it with receipts.

    locust -f scenarios/stomp_topic.py --headless -u 20 -r 10 -t 1m \
        [--host ws://broker.example.com:15674] [--ws-stomp-path /ws] \
        [--ws-stomp-destination /topic/loadtest] [--ws-stomp-login u --ws-stomp-passcode p] \
        [--ws-stomp-vhost /] [--ws-stomp-heartbeat 10000,10000]

Rows: `stomp connect` (upgrade to CONNECTED), `stomp subscribe` and `stomp send` (their RECEIPT:
a send's is the RTT). Every MESSAGE is a delivery (protocols.stomp.messages): with N users on
one topic, each send is delivered N times.
"""

from locust import constant, task

from loadtest.protocols.stomp import StompUser


class TopicUser(StompUser):
    scenario_options = ("stomp",)  # its --ws-* options show in the web UI form
    wait_time = constant(0.5)

    @task
    def publish(self) -> None:
        self.send('{"text": "hello"}', content_type="application/json")
