"""Socket.IO chat: each user connects its namespace, then emits an event with an ack, again and again.

    locust -f scenarios/socketio_chat.py --headless -u 50 -r 25 -t 1m \
        [--host ws://chat.example.com] [--ws-socketio-path /socket.io/] \
        [--ws-socketio-namespace /chat] [--ws-socketio-event echo]

Connects to /socket.io/?EIO=4&transport=websocket under --host (the embedded target speaks
Socket.IO when there is no --host). Rows: `socketio connect` (upgrade to namespace connected),
`socketio echo` (the ack's round trip: the RTT in rtt_ms). Events the server pushes are counted in
protocols.socketio.events_received; Engine.IO pings are answered by the layer.
"""

from locust import constant, task

from loadtest.plugin.scenario import option
from loadtest.protocols.socketio import SocketIOUser


class ChatUser(SocketIOUser):
    scenario_options = ("socketio",)  # its --ws-* options show in the web UI form
    wait_time = constant(0.5)

    @task
    def chat(self) -> None:
        event = str(option(self, "ws_socketio_event", "echo"))
        self.emit(event, {"text": "hello", "from": id(self)})
