"""Every ``--ws-*`` option, by every route, shows its effect in a real run.

The list of options comes from the option table itself (``loadtest.options.OPTIONS``):
an option without a probe here fails ``test_every_option_has_a_probe``. A probe is a value to
set and an assertion on what the run did with it (the summary, the target's own counts, the
files written), chosen so that the default value would fail it. Probes that can share a target
share a *world* (one locustfile, one target, one run per route). For each route the worlds
run side by side; each option is then checked in every route it takes: the command line,
``LOCUST_WS_*``, ``locust.conf``, ``[tool.locust]``, the web UI form (the field must be on the
page, the value submitted with the form) and a master whose two plain workers must apply it.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from loadtest.options import BY_DEST, OPTIONS
from loadtest.server.process import EmbeddedServer
from tests.certs import Chain, make_chain
from tests.e2e.routes import ROUTES, Outcome, Run, execute, form_for
from tests.integration.sessions import settled_stats

Check = Callable[[Outcome], object]  # asserts; what it returns is ignored


@dataclass(frozen=True)
class Probe:
    """An option's value and the assertion its effect must satisfy."""

    value: Any
    check: Check


@dataclass
class World:
    """Probes that share a locustfile and a target, run once per route."""

    name: str
    scenario: str
    server_args: list[str] | None  # None: no --host, Locust starts the embedded target
    probes: dict[str, Probe]
    config: dict[str, Any] = field(default_factory=dict)  # options needed to set the stage
    users: int = 2
    tls: bool = False  # the target serves wss:// with the test PKI (and wants client certificates)


def _s(o: Outcome) -> dict[str, Any]:
    return o.summary


def _srv(o: Outcome) -> dict[str, Any]:
    assert o.server is not None
    return o.server


def _opened(o: Outcome) -> int:
    opened: int = _s(o)["sessions"]["opened"]
    assert opened >= 2 and _s(o)["handshake_failures"]["total"] == 0, _s(o)["handshake_failures"]
    return opened


def _file(o: Outcome, name: str) -> Path:
    path = o.folder / name
    assert path.is_file(), f"{name} was not written"
    return path


def _delay_ms(o: Outcome) -> dict[str, Any]:
    delays: dict[str, Any] = _s(o)["reconnects"]["delay_ms"]
    assert delays["count"] >= 1, delays
    return delays


def _fan(o: Outcome) -> dict[str, Any]:
    fanout: dict[str, Any] = _s(o)["fanout"]
    assert fanout["published"] and fanout["lost"] is not None, fanout  # checked exactly in test_fanout.py
    return fanout


def _publish_rate(o: Outcome) -> float:
    """Return the messages per second each publisher sent, from the barrier to the end of the run."""
    publishing_s = _s(o)["duration_s"] - _fan(o)["barrier"]["started_s"]
    assert publishing_s >= 0.5, f"publishing started {_fan(o)['barrier']['started_s']} s into the run"
    return float(_fan(o)["published"] / _fan(o)["publishers"] / publishing_s)


def _proto(o: Outcome, protocol: str) -> dict[str, Any]:
    return dict(_s(o)["protocols"][protocol])


def _points(o: Outcome) -> int:
    return int(_s(o)["run"]["points"])


def _peaks(o: Outcome) -> tuple[int, int]:
    return _srv(o)["sessions"]["peak_concurrent"], _s(o)["sessions"]["peak_concurrent"]


def _deflated(o: Outcome) -> bool:
    mine, target = _s(o)["compression"], _srv(o)["compression"]
    return bool(mine["negotiated"] == _opened(o) == target["negotiated"] and mine["ratio_sent"] < 0.5)


def worlds(tmp: Path, chain: Chain) -> list[World]:
    """Return every world; paths of output files live in ``tmp`` (per route)."""
    previous = tmp / "previous.json"  # an earlier run's summary, for --ws-baseline
    previous.write_text(json.dumps({"schema": "loadtest.summary/1", "sessions": {"peak_concurrent": 1000}}))
    return [
        World(
            "baseline",
            "echo",
            [],
            {
                "ws_baseline": Probe(
                    str(previous), lambda o: _expect(_s(o)["baseline"]["path"] == str(previous), o)
                ),
                "ws_regression": Probe(
                    ["sessions.peak_concurrent:-10%"],
                    lambda o: _expect(
                        [r["passed"] for r in _s(o)["baseline"]["compared"]] == [False]
                        and not _s(o)["passed"],
                        o,
                    ),
                ),
                # one request event per request reached Locust's listeners (by default: none, batched)
                "ws_request_events": Probe(
                    True,
                    lambda o: _expect(
                        _s(o)["locust"]["request_events"] == _s(o)["locust"]["requests"] >= 2, o
                    ),
                ),
            },
        ),
        World(
            "handshake",
            "echo",
            ["--allowed-origin", "http://probe.test", "--subprotocol", "probe"]
            + ["--token", "s3cret", "--auth-mode", "message"],
            {
                "ws_origin": Probe("http://probe.test", lambda o: _opened(o)),
                "ws_subprotocol": Probe(
                    "probe",
                    lambda o: _expect(_srv(o)["handshakes"]["subprotocols"] == {"probe": _opened(o)}, o),
                ),
                "ws_token": Probe(
                    "s3cret", lambda o: _expect(_srv(o)["auth"] == {"ok": _opened(o), "failed": 0}, o)
                ),
                "ws_token_mode": Probe(
                    "message", lambda o: _expect(_srv(o)["auth"] == {"ok": _opened(o), "failed": 0}, o)
                ),
                "ws_source_ips": Probe(
                    "127.0.0.2",
                    lambda o: _expect(_srv(o)["sessions"]["by_source"] == {"127.0.0.2": _opened(o)}, o),
                ),
                "ws_summary": Probe(
                    str(tmp / "handshake" / "summary.json"), lambda o: _file(o, "summary.json")
                ),
                "ws_report": Probe(
                    str(tmp / "handshake" / "report.html"),
                    lambda o: _expect("<html" in _file(o, "report.html").read_text(), o),
                ),
                "ws_check": Probe(
                    ["sessions.opened>=2", "closes.abnormal==0"],
                    lambda o: _expect(
                        [c["name"] for c in _s(o)["checks"] if c["passed"]]
                        == ["sessions.opened>=2", "closes.abnormal==0"],
                        o,
                    ),  # fmt: skip
                ),
                "ws_junit": Probe(
                    str(tmp / "handshake" / "junit.xml"),
                    lambda o: _expect(
                        len(ET.parse(_file(o, "junit.xml")).getroot().findall("testcase")) == 2, o
                    ),
                ),
                # a master rounds up to the workers' 3 s report interval: 4.5 s -> 6 s (default 2 -> 3)
                "ws_sample_interval": Probe(
                    4.5,
                    lambda o: _expect(
                        _s(o)["run"]["sample_interval_s"] == (6.0 if o.route == "workers" else 4.5)
                        and _points(o) <= 2,
                        o,
                    ),
                ),
            },
            users=3,
        ),
        World(  # not in the web UI form: headers and cookies can carry credentials
            "credentials",
            "echo",
            ["--require-header", "X-Probe: yes", "--require-header", "Cookie: probe=1"],
            {
                "ws_header": Probe(["X-Probe: yes"], lambda o: _opened(o)),
                "ws_cookie": Probe(["probe=1"], lambda o: _opened(o)),
            },
        ),
        World(
            "connect",
            "echo",
            ["--handshake-delay", "1.5"],
            {
                "ws_connect_timeout": Probe(
                    0.3, lambda o: _expect(_s(o)["handshake_failures"].get("timeout", 0) >= 4, o)
                ),
                "ws_reconnect_max_attempts": Probe(2, lambda o: _expect(_s(o)["errors"]["gave_up"] == 4, o)),
                "ws_reconnect_cap": Probe(0.05, lambda o: _expect(_delay_ms(o)["max"] <= 51, o)),
            },
            users=4,
        ),
        World(
            "reconnect",
            "echo",
            ["--close-every", "1", "--close-code", "1011", "--close-after", "0.05"],
            {
                # fixed: all delays equal to the histogram's 3 digits (jitter would spread them)
                "ws_reconnect": Probe(
                    "fixed", lambda o: _expect(_delay_ms(o)["max"] - _delay_ms(o)["min"] < 1, o)
                ),
                "ws_reconnect_base": Probe(0.2, lambda o: _expect(199 <= _delay_ms(o)["p50"] <= 201, o)),
            },
        ),
        World(  # 2 users x 3 sessions, all open at once: the target's peak and ours
            "reply",
            "echo",
            ["--read-delay", "0.6"],
            {
                "ws_reply_timeout": Probe(0.2, lambda o: _expect(_s(o)["errors"]["reply_timeouts"] >= 2, o)),
                "ws_sessions_per_user": Probe(3, lambda o: _expect(_peaks(o) == (6, 6), o)),
            },
        ),
        World(
            "close",
            "echo",
            ["--stop-reading"],
            {"ws_close_timeout": Probe(0.3, lambda o: _expect(250 <= _s(o)["close_ms"]["max"] <= 1500, o))},
        ),
        World(
            "stalled",
            "burst_send",
            ["--stop-reading"],
            {
                "ws_send_timeout": Probe(
                    0.5, lambda o: _expect(_s(o)["closes"]["abnormal_reasons"].get("send_timeout", 0) >= 1, o)
                ),
                "ws_backpressure_threshold": Probe(
                    1000, lambda o: _expect(_s(o)["backpressure"]["over_threshold"] >= 1, o)
                ),
                "ws_sndbuf": Probe(
                    4096, lambda o: _expect(_s(o)["backpressure"]["send_queue_bytes"]["max"] < 65536, o)
                ),
            },
            config={"ws_message_size": 65536, "ws_burst_size": 4, "ws_burst_interval": 0.2},
        ),
        World(
            "burst",
            "burst_send",
            [],
            {
                "ws_burst_size": Probe(7, lambda o: _expect(_s(o)["messages"]["sent"] == 14, o)),
                "ws_message_size": Probe(
                    300, lambda o: _expect(300 <= _s(o)["messages"]["bytes_sent"] / 14 < 400, o)
                ),
                "ws_binary": Probe(True, lambda o: _expect(_srv(o)["messages"]["binary_received"] == 14, o)),
                "ws_fragment_size": Probe(
                    100, lambda o: _expect(_srv(o)["messages"]["fragmented_received"] == 14, o)
                ),
            },
            config={"ws_burst_interval": 60},  # one burst per user in the run
        ),
        World(
            "interval",
            "burst_send",
            [],
            {"ws_burst_interval": Probe(0.25, lambda o: _expect(_s(o)["messages"]["sent"] >= 2 * 6, o))},
            config={"ws_burst_size": 1},
        ),
        World(
            "rate",
            "burst_send",
            [],
            {
                "ws_rate": Probe(40.0, lambda o: _expect(_s(o)["rtt_ms"]["count"] >= 2 * 40, o)),
                "ws_batch": Probe(
                    True, lambda o: _expect(_s(o)["rtt_ms"]["count"] >= 3 * _s(o)["messages"]["sent"], o)
                ),
            },
        ),
        World(
            "limit",
            "burst_send",
            [],
            {
                "ws_max_message_bytes": Probe(
                    200, lambda o: _expect(_s(o)["closes"]["client"].get("1009", 0) >= 1, o)
                )
            },
            config={"ws_message_size": 500, "ws_burst_size": 1},
        ),
        World(
            "heartbeat",
            "heartbeat_idle",
            [],
            {
                "ws_heartbeat_interval": Probe(
                    0.2, lambda o: _expect(_s(o)["ping_rtt_ms"]["count"] >= 2 * 5, o)
                ),
                "ws_heartbeat_kind": Probe("app", lambda o: _expect(_s(o)["messages"]["sent"] >= 2 * 5, o)),
            },
        ),
        World(
            "dead",
            "heartbeat_idle",
            ["--read-delay", "1.0"],
            {
                "ws_pong_timeout": Probe(
                    0.2, lambda o: _expect(_s(o)["closes"]["abnormal_reasons"].get("dead", 0) >= 1, o)
                )
            },
            config={"ws_heartbeat_kind": "app", "ws_heartbeat_interval": 0.3},
        ),
        World(
            "storm",
            "reconnect_storm",
            [],
            {
                "ws_storm_at": Probe(
                    1.0,
                    lambda o: _expect(
                        [(x["trigger"], x["index"]) for x in _s(o)["storms"]][:1] == [("client", 0)], o
                    ),
                ),
                "ws_storm_every": Probe(0.8, lambda o: _expect(len(_s(o)["storms"]) >= 2, o)),
            },
            config={"ws_reconnect_base": 0.1},
        ),
        World(
            "normal-close",
            "reconnect_storm",
            ["--close-every", "1", "--close-code", "1000", "--close-after", "0.3"],
            {
                "ws_reconnect_after_normal": Probe(
                    True, lambda o: _expect(_s(o)["sessions"]["opened"] >= 4, o)
                )
            },
            config={"ws_reconnect_base": 0.1},
        ),
        World(  # 2 publishers, 2 subscribers
            "fanout",
            "fanout",
            ["--pubsub"],
            {
                "ws_topics": Probe(
                    3, lambda o: _expect(_srv(o)["pubsub"]["topics"] == _fan(o)["topics"] == 3, o)
                ),
                "ws_publishers": Probe(2, lambda o: _expect(_fan(o)["publishers"] == 2, o)),
                "ws_publish_rate": Probe(40.0, lambda o: _expect(_publish_rate(o) >= 25, o)),
                "ws_publish_size": Probe(
                    600, lambda o: _expect(_s(o)["messages"]["bytes_sent"] >= 600 * _fan(o)["published"], o)
                ),
            },
            users=4,
        ),
        World(  # deliveries take 1 s: a grace of 0.2 s ends the run with some still in flight
            "fanout-grace",
            "fanout",
            ["--pubsub", "--delay-deliveries", "1.0"],
            {
                "ws_fanout_grace": Probe(0.2, lambda o: _expect(_fan(o)["lost"] > 0, o)),
                # no acknowledgement awaited: publishing starts a second after the subscription
                "ws_subscribe_settle": Probe(
                    1.0,
                    lambda o: _expect(
                        _fan(o)["subscriptions"]["sequence"] == _fan(o)["subscriptions"]["settled"] == 1
                        and _fan(o)["barrier"]["started_s"] >= 1.0,
                        o,
                    ),
                ),
            },
        ),
        World(  # one request a second for 6 s: a 3 s run at speed 1 sends at most 3 per user
            "har",
            "recorded_ticker",
            [],
            {"ws_har_speed": Probe(0.0, lambda o: _expect(_s(o)["messages"]["sent"] >= 2 * 6, o))},
        ),
        World(  # the target serves Socket.IO at another path: the default path would get 404
            "socketio",
            "socketio_chat",
            ["--dialect", "socketio", "--path", "/probe.io/"],
            {
                "ws_socketio_path": Probe(
                    "/probe.io/", lambda o: _expect(_proto(o, "socketio")["connects"] >= 2, o)
                ),
                "ws_socketio_namespace": Probe(
                    "/probe",
                    lambda o: _expect(_srv(o)["socketio"]["connects"] == {"/probe": _opened(o)}, o),
                ),
                "ws_socketio_event": Probe(
                    "probe",
                    lambda o: _expect(
                        _srv(o)["socketio"]["events_received"]
                        == {"probe": _proto(o, "socketio")["events_sent"]}
                        and _proto(o, "socketio")["events_sent"] >= 2,
                        o,
                    ),
                ),
            },
        ),
        World(
            "graphql",
            "graphql_subscription",
            ["--dialect", "graphql-ws", "--path", "/probe-gql"],
            {
                "ws_graphql_path": Probe(
                    "/probe-gql", lambda o: _expect(_proto(o, "graphql")["connects"] >= 2, o)
                ),
                "ws_graphql_document": Probe(  # a query instead of the default subscription
                    "{ hello }",
                    lambda o: _expect(
                        _srv(o)["graphql"]["operations"] == {"query": _proto(o, "graphql")["queries"]}
                        and _s(o)["rtt_ms"]["count"] >= 2,
                        o,
                    ),
                ),
            },
        ),
        World(  # a target that wants its own vhost and credentials, with 0.2 s heart-beats
            "stomp",
            "stomp_topic",
            ["--dialect", "stomp", "--path", "/probe-stomp", "--heartbeat", "0.2"]
            + ["--stomp-vhost", "probe-vh", "--stomp-login", "probe", "--stomp-passcode", "s3cret"],
            {
                "ws_stomp_path": Probe("/probe-stomp", lambda o: _opened(o)),
                "ws_stomp_destination": Probe(
                    "/topic/probe",
                    lambda o: _expect(
                        _srv(o)["stomp"]["sends"] == {"/topic/probe": _proto(o, "stomp")["sends"]}
                        and _proto(o, "stomp")["sends"] >= 2,
                        o,
                    ),
                ),
                "ws_stomp_vhost": Probe(
                    "probe-vh", lambda o: _expect(_proto(o, "stomp")["connects"] >= 2, o)
                ),
                "ws_stomp_login": Probe("probe", lambda o: _expect(_proto(o, "stomp")["connects"] >= 2, o)),
                "ws_stomp_passcode": Probe(
                    "s3cret", lambda o: _expect(_proto(o, "stomp")["connects"] >= 2, o)
                ),
                # ours 100 ms against the target's 200: a beat every 200 ms of silence (default: 10 s)
                "ws_stomp_heartbeat": Probe(
                    "100,100",
                    lambda o: _expect(
                        _srv(o)["stomp"]["heartbeats_received"] == _proto(o, "stomp")["heartbeats_sent"] >= 4,
                        o,
                    ),
                ),
            },
        ),
        World(  # a 2 KiB order-book JSON message (--ws-message-size) compresses to well under half
            "compression",
            "echo",
            ["--compression", "deflate"],
            {"ws_compression": Probe("deflate", lambda o: _expect(_deflated(o), o))},
            config={"ws_message_size": 2048},
        ),
        World(
            "embedded",
            "echo",
            None,
            {
                "ws_embedded_args": Probe(
                    "--close-every 1 --close-code 4001 --close-after 0.2",
                    lambda o: _expect(_s(o)["closes"]["server"].get("4001", 0) >= 2, o),
                )
            },
        ),
        World(
            "tls",
            "echo",
            [],
            {
                "ws_ca_file": Probe(chain.ca, lambda o: _opened(o)),
                "ws_client_cert": Probe(chain.client_cert, lambda o: _opened(o)),
                "ws_client_key": Probe(chain.client_key, lambda o: _opened(o)),
            },
            tls=True,
        ),
        World(
            "insecure",
            "echo",
            [],
            {"ws_insecure": Probe(True, lambda o: _opened(o))},
            tls=True,
        ),
    ]


def _expect(condition: bool, outcome: Outcome) -> None:
    shown = ("sessions", "closes", "errors", "fanout", "compression")
    assert condition, json.dumps({k: outcome.summary.get(k) for k in shown})


def _applies(option_dest: str, route: str) -> bool:
    option = BY_DEST[option_dest]
    return not (route == "web" and not option.in_web_ui)


def _server_args(world: World, chain: Chain) -> list[str]:
    args = list(world.server_args or [])
    if world.tls:
        args += ["--certfile", chain.server_cert, "--keyfile", chain.server_key]
        if world.name == "tls":
            args += ["--client-ca", chain.ca]
    return args


def _run_world(world: World, route: str, folder: Path, chain: Chain) -> Outcome:
    folder.mkdir(parents=True)
    server = None
    if world.server_args is not None:
        client = (chain.client_cert, chain.client_key) if world.tls else None
        server = EmbeddedServer(_server_args(world, chain), stats_client_cert=client).start()
    try:
        values = {d: p.value for d, p in world.probes.items() if _applies(d, route)}
        values = {**world.config, **values}
        values.setdefault("ws_summary", str(folder / f"{world.name}.json"))
        run = Run(world.scenario, server.url if server else "", values, folder, users=world.users)
        output, shown = execute(run, route)
        (folder / "output.txt").write_text(output)  # kept for a person reading a failure
        summary_path = Path(values["ws_summary"])
        assert summary_path.is_file(), f"{world.name} by {route}: no summary\n{output[-3000:]}"
        stats = settled_stats(server) if server else None
        return Outcome(json.loads(summary_path.read_text()), stats, folder, output, route, shown)
    finally:
        if server is not None:
            server.stop()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    return make_chain(tmp_path_factory.mktemp("pki"))


def test_every_option_has_a_probe(tmp_path: Path, chain: Chain) -> None:
    probed = [dest for world in worlds(tmp_path, chain) for dest in world.probes]
    assert sorted(probed) == sorted(o.dest for o in OPTIONS), "one probe per option of the table"


@pytest.mark.parametrize("route", ROUTES)
def test_every_option_takes_effect_by(route: str, tmp_path: Path, chain: Chain) -> None:
    all_worlds = [w for w in worlds(tmp_path, chain) if any(_applies(d, route) for d in w.probes)]
    parallel = int(os.environ.get("LT_PARALLEL", "0")) or (3 if route == "workers" else 5)
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        outcomes = dict(
            zip(
                [w.name for w in all_worlds],
                pool.map(lambda w: _run_world(w, route, tmp_path / w.name, chain), all_worlds),
                strict=True,
            )
        )
    failures = []
    for world in all_worlds:
        outcome = outcomes[world.name]
        if route == "web":
            shown = {d for d in outcome.form_fields if d in BY_DEST}
            if sorted(shown) != form_for(world.scenario):
                failures.append(
                    f"the form of {world.scenario}.py shows {sorted(shown)}, not {form_for(world.scenario)}"
                )
        for dest, probe in world.probes.items():
            option = BY_DEST[dest]
            if route == "web" and not option.in_web_ui:
                if dest in outcome.form_fields:
                    failures.append(
                        f"{option.flag} is in the web UI form but excluded: {option.web_ui_excluded}"
                    )
                continue
            if route == "web" and dest not in outcome.form_fields:
                failures.append(f"{option.flag} is not in the web UI form of {world.scenario}.py")
            try:
                probe.check(outcome)
            except (AssertionError, KeyError, TypeError, IndexError) as exc:
                failures.append(f"{option.flag} by {route} ({world.name}): no effect: {exc!r}")
    assert not failures, "\n".join(failures)
