"""When fan-out publishers may start, and when they have all stopped, across workers.

**The start barrier.** Without an acknowledgement a client cannot know when the server has
registered its subscription, and counting entitlement by our own clock races the server. So
publishers wait until every subscriber of the run holds its acknowledgement (or its settle time,
``--ws-subscribe-settle``, has passed). Each process keeps a gauge of its subscriptions in place;
a worker sends it to the master when it changes (``MSG_ACKED``, coalesced). Once spawning is
complete the master (or the local runner) knows how many subscriber users the run has; when the
gauge reaches that number it tells every worker to start publishing (``MSG_GO``). The wait is
bounded (connect timeout + reply timeout + settle time + 1 s after spawning completed): past it,
publishers start anyway and the run says so (``fanout.barrier.timed_out``, and a warning).

**The end of publishing.** When a run stops, publishers stop first: each sends a fence the
server answers only after handling every publish before it, then reports what it sent per
topic. A process whose publishers have all done so sends the totals to the master
(``MSG_PUBLISHED``); once every worker has, the master sends the grand totals to all
(``MSG_DONE``). Subscribers, which wait for that in their ``on_stop``, then collect the deliveries
still in flight (bounded by ``--ws-fanout-grace``) and settle their accounts. A master that
misses a worker's totals sends what it has after a bounded wait.

Messages carry the generation of the test they belong to; a late one from an earlier test is
ignored.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.event import Event
from locust.rpc import Message
from locust.runners import STATE_MISSING

from loadtest.plugin.distributed import is_master, is_worker
from loadtest.plugin.state import state_for
from loadtest.plugin.web_form import loaded_user_classes

logger = logging.getLogger("loadtest")

__all__ = ["FanoutRun", "acked", "current", "install", "publisher_done", "publisher_started"]

MSG_ACKED = "loadtest_fanout_acked"
MSG_GO = "loadtest_fanout_go"
MSG_PUBLISHED = "loadtest_fanout_published"
MSG_DONE = "loadtest_fanout_done"
#: A worker's gauge goes to the master at most this often (a ramp-up acknowledges in bursts).
ACK_REPORT_S = 0.05
_ATTRIBUTE = "_loadtest_fanout"


@dataclass
class FanoutRun:
    """One test's barrier and end-of-publishing state, in one process."""

    generation: int = 0
    started_monotonic: float = field(default_factory=time.monotonic)
    go: Event = field(default_factory=Event)
    done: Event = field(default_factory=Event)
    acked: int = 0  # subscriptions in place now (on a master: the sum of the workers' gauges)
    acked_by: dict[str, int] = field(default_factory=dict)
    subscribers: int | None = None  # subscriber users of the run, once spawning completed
    acknowledged_at_go: int | None = None
    started_s: float | None = None  # when publishing started, seconds into the run
    timed_out: bool | None = None
    stopping: bool = False
    publishers: int = 0  # publishers of this process still running
    sent: Counter[str] = field(default_factory=Counter)  # "publisher|topic" -> sent, finished ones
    reported: bool = False
    reported_by: set[str] = field(default_factory=set)
    totals: dict[str, int] = field(default_factory=dict)  # every publisher's, once done is set
    watching: bool = False
    _reporting: bool = False

    def info(self) -> dict[str, Any]:
        """Return the summary's ``fanout.barrier``."""
        return {
            "subscribers": self.subscribers,
            "acknowledged": self.acknowledged_at_go,
            "started_s": None if self.started_s is None else round(self.started_s, 3),
            "timed_out": self.timed_out,
        }


def current(environment: Any) -> FanoutRun:
    """Return this process's state of the current test (a fresh one before any test)."""
    run: FanoutRun | None = getattr(environment, _ATTRIBUTE, None)
    if run is None:
        run = FanoutRun()
        setattr(environment, _ATTRIBUTE, run)
    return run


def _role(user_class: Any) -> str | None:
    return getattr(user_class, "fanout_role", None)


def install(environment: Any) -> None:
    """Wire the barrier for this environment's runner, when a fan-out user class is loaded."""
    classes = loaded_user_classes(environment)
    if not any(_role(cls) for cls in classes):
        return
    runner = environment.runner
    events = environment.events
    events.test_start.add_listener(lambda **_: _begin(environment, classes))
    events.test_stopping.add_listener(lambda **_: _stopping(environment))
    if is_worker(environment):
        runner.register_message(MSG_GO, lambda msg, **_: _open_here(environment, msg))
        runner.register_message(MSG_DONE, lambda msg, **_: _done(environment, msg))
        return
    events.spawning_complete.add_listener(lambda **_: _spawned(environment))
    if is_master(environment):
        runner.register_message(MSG_ACKED, lambda msg, **_: _worker_acked(environment, msg))
        runner.register_message(MSG_PUBLISHED, lambda msg, **_: _worker_published(environment, msg))


def _mine(environment: Any, msg: Any) -> bool:
    return bool(msg.data.get("generation") == current(environment).generation)


def _begin(environment: Any, classes: list[Any]) -> None:
    state = state_for(environment)
    setattr(environment, _ATTRIBUTE, FanoutRun(generation=state.generation))
    parsed = environment.parsed_options
    if is_worker(environment) or parsed is None:
        return
    for cls in classes:  # read by Locust's dispatcher right after test_start
        if _role(cls) == "publisher":
            cls.fixed_count = max(1, int(getattr(parsed, "ws_publishers", 1)))
    # A master waits for its workers' final counts: give their subscribers the time to drain.
    grace_s = float(getattr(parsed, "ws_fanout_grace", 0.0))
    state.stop_extra_s = grace_s + state.session_options.reply_timeout_s


# -- the start barrier ---------------------------------------------------------------------------
def acked(environment: Any, run: FanoutRun, change: int) -> None:
    """Add ``change`` (+1 on an acknowledgement, -1 when its session ended) to the gauge of ``run``."""
    run.acked += change
    if is_worker(environment) and not run._reporting:
        run._reporting = True

        def report() -> None:
            gevent.sleep(ACK_REPORT_S)  # the latest value goes, once per burst
            run._reporting = False
            environment.runner.send_message(MSG_ACKED, {"acked": run.acked, "generation": run.generation})

        gevent.spawn(report)


def _worker_acked(environment: Any, msg: Any) -> None:
    run = current(environment)
    if _mine(environment, msg):
        run.acked_by[msg.node_id] = int(msg.data["acked"])
        run.acked = sum(run.acked_by.values())


def _spawned(environment: Any) -> None:
    run = current(environment)
    if run.watching or run.go.is_set():
        return  # a later ramp (the web UI): the barrier of this test is behind us
    run.watching = True
    counts = getattr(environment.runner, "target_user_classes_count", {}) or {}
    classes = {cls.__name__: cls for cls in loaded_user_classes(environment)}
    run.subscribers = sum(n for name, n in counts.items() if _role(classes.get(name)) == "subscriber")
    gevent.spawn(_await_subscribers, environment, run)


def _await_subscribers(environment: Any, run: FanoutRun) -> None:
    options = state_for(environment).session_options
    settle_s = float(getattr(environment.parsed_options, "ws_subscribe_settle", 0.0) or 0.0)
    deadline = time.monotonic() + options.connect_timeout_s + options.reply_timeout_s + settle_s + 1.0
    wanted = run.subscribers or 0
    while run.acked < wanted and time.monotonic() < deadline and not run.stopping:
        gevent.sleep(0.02)
    if current(environment) is not run or run.stopping:
        return
    run.timed_out = run.acked < wanted
    run.acknowledged_at_go = run.acked
    run.started_s = time.monotonic() - run.started_monotonic
    if run.timed_out:
        logger.warning(
            "fan-out: publishers start with %d of %d subscriptions acknowledged (the barrier timed out): "
            "subscriptions acknowledged later count from their acknowledgement",
            run.acked,
            wanted,
        )
    else:
        logger.info("fan-out: %d subscriptions in place; publishers start", run.acked)
    if is_master(environment):
        runner = environment.runner
        for client in list(runner.clients.all):
            runner.server.send_to_client(Message(MSG_GO, {"generation": run.generation}, client.id))
    run.go.set()


def _open_here(environment: Any, msg: Any) -> None:
    if _mine(environment, msg):
        current(environment).go.set()


# -- the end of publishing -----------------------------------------------------------------------
def publisher_started(environment: Any) -> None:
    """Count a publisher of this process as running (until :func:`publisher_done`)."""
    current(environment).publishers += 1


def publisher_done(environment: Any, publisher: str, sent: dict[str, int]) -> None:
    """Record what a stopped publisher sent per topic; report once every publisher here stopped."""
    run = current(environment)
    run.publishers -= 1
    for topic, count in sent.items():
        run.sent[f"{publisher}|{topic}"] += count
    _maybe_report(environment, run)


def _stopping(environment: Any) -> None:
    run = current(environment)
    run.stopping = True
    if is_master(environment):
        gevent.spawn(_backstop, environment, run)
    else:
        _maybe_report(environment, run)


def _maybe_report(environment: Any, run: FanoutRun) -> None:
    if not run.stopping or run.publishers > 0 or run.reported:
        return
    run.reported = True
    if is_worker(environment):
        environment.runner.send_message(MSG_PUBLISHED, {"sent": dict(run.sent), "generation": run.generation})
    else:
        _finish(environment, run, dict(run.sent))


def _worker_published(environment: Any, msg: Any) -> None:
    run = current(environment)
    if not _mine(environment, msg) or run.done.is_set():
        return
    run.reported_by.add(msg.node_id)
    run.sent.update(msg.data["sent"])
    live = {client.id for client in environment.runner.clients.all if client.state != STATE_MISSING}
    if live <= run.reported_by:
        _finish(environment, run, dict(run.sent))


def _backstop(environment: Any, run: FanoutRun) -> None:
    """On a master: send the totals there are if a worker's never come (it was lost, or stuck)."""
    options = state_for(environment).session_options
    gevent.sleep(options.reply_timeout_s + options.close_timeout_s + 2.0)
    if current(environment) is run and not run.done.is_set():
        logger.warning("fan-out: not every worker said what its publishers sent; subscribers drain anyway")
        _finish(environment, run, dict(run.sent))


def _finish(environment: Any, run: FanoutRun, totals: dict[str, int]) -> None:
    run.totals = totals
    run.done.set()
    if is_master(environment):
        runner = environment.runner
        data = {"totals": totals, "generation": run.generation}
        for client in list(runner.clients.all):
            runner.server.send_to_client(Message(MSG_DONE, data, client.id))


def _done(environment: Any, msg: Any) -> None:
    run = current(environment)
    if not _mine(environment, msg):
        return
    run.totals = dict(msg.data["totals"])
    run.done.set()
