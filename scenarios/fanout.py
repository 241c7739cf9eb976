"""Fan-out: publishers and subscribers on topics, every delivery checked, loss counted exactly.

    locust -f scenarios/fanout.py --headless -u 51 -r 51 -t 1m \
        --ws-publishers 1 --ws-topics 1 --ws-publish-rate 20 --ws-publish-size 256 \
        --ws-embedded-args '--pubsub --drop-delivery-every 7'

With no --host the embedded target must be started with --pubsub (as above). Publishers start
once every subscriber holds its subscription's acknowledgement and stop first; subscribers wait
(--ws-fanout-grace) for deliveries in flight. The summary's "fanout" section: published,
expected, delivered, lost, duplicated, reordered and the delivery latency (docs/fanout.md).
"""

from locust import constant, task

from loadtest.plugin.fanout import FanoutPublisher, FanoutSubscriber


class Publisher(FanoutPublisher):
    wait_time = constant(0)  # publish_next keeps the rate

    @task
    def publish(self) -> None:
        self.publish_next()


class Subscriber(FanoutSubscriber):
    wait_time = constant(1)

    @task
    def listen(self) -> None:
        pass  # deliveries arrive in on_message; the session stays open
