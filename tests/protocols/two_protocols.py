"""A locustfile for tests/protocols/test_options.py: two protocols the embedded target cannot both speak."""

from locust import constant, task

from loadtest.protocols.socketio import SocketIOUser
from loadtest.protocols.stomp import StompUser


class Chat(SocketIOUser):
    wait_time = constant(1)

    @task
    def chat(self) -> None:
        self.emit("echo")


class Topic(StompUser):
    wait_time = constant(1)

    @task
    def publish(self) -> None:
        self.send("hi")
