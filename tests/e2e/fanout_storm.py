"""The fan-out scenario with reconnect storms (--ws-storm-at): subscribers that come back."""

from locust import constant, task

from loadtest.plugin.fanout import FanoutPublisher, FanoutSubscriber


class Publisher(FanoutPublisher):
    scenario_options = ("fanout", "storm")
    wait_time = constant(0)

    @task
    def publish(self) -> None:
        self.publish_next()


class Subscriber(FanoutSubscriber):
    scenario_options = ("fanout", "storm")
    wait_time = constant(1)

    @task
    def listen(self) -> None:
        pass
