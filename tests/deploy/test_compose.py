"""compose.yaml rendered by a real Compose, then its services run as processes on one host.

No container engine here: ``docker compose config`` / ``docker-compose config`` renders the
file as ``up`` would (interpolation, defaults, pass-through variables), and each service's
rendered entrypoint, command and environment (over the image's ENV, read from the
Dockerfile) are started, in ``depends_on`` order with the target's healthcheck honoured, from
a folder filled by the image's own install script (tests/deploy/image.py), in a network
namespace where ``target`` and ``master`` resolve to 127.0.0.1 (tests/deploy/host.py).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import compose
from tests.deploy.container import Container, from_compose
from tests.deploy.host import Host, wait_until
from tests.deploy.image import Image, final_stage

IMPLEMENTATIONS = compose.implementations()
NAMES = ["target", "master"]  # the service names other services use
HEADLESS = {  # as compose.yaml's header shows, smaller
    "LOCUST_HEADLESS": "true",
    "LOCUST_USERS": "4",
    "LOCUST_SPAWN_RATE": "4",
    "LOCUST_RUN_TIME": "3s",
}

pytestmark = pytest.mark.skipif(
    not IMPLEMENTATIONS,
    reason="no Compose implementation: apt-get install docker-compose (Compose v1, no engine needed)",
)


@pytest.fixture(params=sorted(IMPLEMENTATIONS) or ["none"])
def renderer(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[dict[str, str]], dict[str, Any]]:
    """Render compose.yaml with each Compose found here."""
    argv = IMPLEMENTATIONS[request.param]
    return lambda variables: compose.render(argv, variables, tmp_path)


@pytest.fixture
def rendered(tmp_path: Path) -> Callable[[dict[str, str]], dict[str, Any]]:
    """Render compose.yaml with the first Compose found (v2 first): for the runs."""
    argv = IMPLEMENTATIONS[sorted(IMPLEMENTATIONS)[0]]
    return lambda variables: compose.render(argv, variables, tmp_path)


def _locust_options(container: Container) -> Any:
    """Parse a container's argv and environment with Locust's own parser, our options included."""
    from locust.argument_parser import get_parser

    import loadtest.plugin  # noqa: F401  (registers the --ws-* options on Locust's parser)

    assert container.argv[0] == "locust", container.argv
    return get_parser(default_config_files=[]).parse_args(args=container.argv[1:], env_vars=container.env)


def _image_stub() -> Image:
    """The image's ENTRYPOINT, CMD and WORKDIR (from the Dockerfile) without installing it."""
    last = {i["instruction"]: i["value"] for i in final_stage()}
    entrypoint, cmd = json.loads(last["ENTRYPOINT"]), json.loads(last["CMD"])
    return Image(Path("/opt/venv"), Path("/app"), {}, last["WORKDIR"], entrypoint, cmd)


# -- rendering, checked by Locust's parser ------------------------------------------------------------
def test_with_no_variables_set_every_service_renders_to_options_locust_accepts(
    renderer: Callable[[dict[str, str]], dict[str, Any]],
) -> None:
    pytest.importorskip("dockerfile_parse", reason="pip install -r tests/deploy/requirements.txt")
    services = renderer({})["services"]
    image = _image_stub()
    master = from_compose(services["master"], image)
    # Unset in the shell, so absent from the container: no empty LOCUST_RUN_TIME (exit 2).
    assert "LOCUST_RUN_TIME" not in master.env
    assert all(value != "" for value in master.env.values()), master.env
    options = _locust_options(master)  # SystemExit(2) on any value Locust refuses
    assert options.master and not options.headless and options.run_time is None
    assert options.host == "ws://target:8765" and options.num_users == 100 and options.spawn_rate == 50
    assert options.locustfile == "scenarios/echo.py" and master.workdir == "/app"
    worker = _locust_options(from_compose(services["worker"], image))
    assert worker.worker and worker.master_host == "master" and worker.master_port == 5557
    target = from_compose(services["target"], image)
    assert target.argv[0] == "loadtest" and target.argv[1] == "serve"
    from loadtest.server.options import parse_args

    served = parse_args(target.argv[2:])
    assert (served.host, served.port) == ("0.0.0.0", 8765)


def test_the_headless_variables_render_to_a_headless_master(
    renderer: Callable[[dict[str, str]], dict[str, Any]],
) -> None:
    pytest.importorskip("dockerfile_parse", reason="pip install -r tests/deploy/requirements.txt")
    variables = HEADLESS | {"SCENARIO": "burst_send", "LOCUST_EXPECT_WORKERS": "4"}
    services = renderer(variables)["services"]
    master = from_compose(services["master"], _image_stub())
    options = _locust_options(master)
    assert options.headless and options.run_time == 3 and options.num_users == 4
    assert options.expect_workers == 4 and options.locustfile == "scenarios/burst_send.py"
    # Our own options arrive through their LOCUST_WS_* variables, not only as names in a file.
    assert options.ws_summary == "reports/summary.json" and options.ws_report == "reports/report.html"


def test_variables_set_but_empty_fall_back_to_the_defaults(
    renderer: Callable[[dict[str, str]], dict[str, Any]],
) -> None:
    pytest.importorskip("dockerfile_parse", reason="pip install -r tests/deploy/requirements.txt")
    empty = dict.fromkeys(
        ["SCENARIO", "LOCUST_HOST", "LOCUST_USERS", "LOCUST_SPAWN_RATE", "LOCUST_HEADLESS"], ""
    )
    master = from_compose(renderer(empty)["services"]["master"], _image_stub())
    options = _locust_options(master)
    assert options.host == "ws://target:8765" and options.num_users == 100
    assert options.locustfile == "scenarios/echo.py" and not options.headless


def test_workers_scale_and_every_service_runs_the_one_image(
    renderer: Callable[[dict[str, str]], dict[str, Any]],
) -> None:
    services = renderer({})["services"]
    assert set(services) == {"target", "master", "worker"}
    # --scale worker=N: a worker publishes no host port and has no fixed container name.
    assert "ports" not in services["worker"] and "container_name" not in services["worker"]
    for service in services.values():
        assert service["image"] == "loadtest-ws:latest" and service["working_dir"] == "/app"
        assert service["ulimits"]["nofile"] == {"soft": 65536, "hard": 65536}
    assert [int(p["target"]) for p in services["master"]["ports"]] == [8089]
    assert [_mounted_at(v) for v in services["master"]["volumes"]] == ["/app/reports"]


def _mounted_at(volume: str | dict[str, Any]) -> str:
    """Return a volume's path in the container: v1 renders "name:/path:rw", v2 a mapping."""
    return volume.split(":")[1] if isinstance(volume, str) else str(volume["target"])


# -- the services, run -----------------------------------------------------------------------------------
def _healthy(host: Host, service: dict[str, Any], container: Container, image: Image) -> bool:
    """Run the service's rendered healthcheck once, as the engine would, inside the host."""
    test = service["healthcheck"]["test"]
    argv = test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]
    done = host.run(argv, env=image.env | container.env)
    return done.returncode == 0


def _up(config: dict[str, Any], host: Host, image: Image) -> dict[str, subprocess.Popen[str]]:
    """Start every service in depends_on order; wait for service_healthy dependencies (bounded)."""
    services = config["services"]
    started: dict[str, subprocess.Popen[str]] = {}
    pending = list(services)
    for _ in range(len(services)):
        for name in list(pending):
            needs = services[name].get("depends_on") or {}
            if isinstance(needs, list):  # the short form: started is enough
                needs = dict.fromkeys(needs, {"condition": "service_started"})
            if not set(needs) <= set(started):
                continue
            for dependency, rule in needs.items():
                if rule["condition"] == "service_healthy":
                    _wait_healthy(host, services[dependency], image, dependency)
            started[name] = host.start(name, from_compose(services[name], image), image)
            pending.remove(name)
    assert not pending, f"depends_on cycle or unknown service: {pending}"
    return started


def _wait_healthy(host: Host, service: dict[str, Any], image: Image, name: str) -> None:
    container = from_compose(service, image)
    wait_until(lambda: _healthy(host, service, container, image), 60, f"{name} healthy")


def _reports(image: Image) -> Path:
    return image.app / "reports"


@pytest.fixture
def clean_reports(image: Image) -> Path:
    """The image's reports folder, emptied: the runs share the installed image."""
    reports = _reports(image)
    for old in reports.iterdir():
        old.unlink()
    return reports


def test_headless_compose_run_completes_with_master_worker_and_target(
    rendered: Callable[[dict[str, str]], dict[str, Any]],
    image: Image,
    host: Callable[[list[str]], Host],
    clean_reports: Path,
) -> None:
    net = host(NAMES)
    procs = _up(rendered(HEADLESS), net, image)
    assert procs["master"].wait(timeout=120) == 0, net.log("master")
    # The master quits its worker at the end; the worker exits by itself (docker compose up
    # --exit-code-from master would stop it anyway).
    assert procs["worker"].wait(timeout=30) == 0, net.log("worker")
    summary = json.loads((clean_reports / "summary.json").read_text())
    stats = json.loads(net.http("http://target:8765/stats")[1])
    assert summary["workers"]["reported"] == 1 and summary["workers"]["lost"] == []
    assert summary["sessions"]["opened"] == stats["sessions"]["opened"] == 4
    assert summary["closes"]["client"] == {"1000": 4} and summary["closes"]["abnormal"] == 0
    assert summary["handshake_failures"]["total"] == 0
    assert summary["target"] == "ws://target:8765"
    assert 0 < summary["messages"]["received"] <= summary["messages"]["sent"] == stats["messages"]["received"]
    assert (clean_reports / "report.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert procs["target"].poll() is None  # the target runs on until compose stops it


def test_with_no_variables_the_master_serves_the_web_ui_and_runs_from_it(
    rendered: Callable[[dict[str, str]], dict[str, Any]],
    image: Image,
    host: Callable[[list[str]], Host],
    clean_reports: Path,
) -> None:
    net = host(NAMES)
    procs = _up(rendered({}), net, image)

    def workers_ready() -> bool:
        code = procs["master"].poll()
        assert code is None, f"master exited {code}: {net.log('master')}"
        status, body = net.http("http://master:8089/stats/requests")
        return status == 200 and len(json.loads(body)["workers"]) == 1

    wait_until(workers_ready, 60, "the web UI with one worker")
    status, page = net.http("http://master:8089/")
    assert status == 200 and "<html" in page.lower()
    status, body = net.http("http://master:8089/swarm", {"user_count": "2", "spawn_rate": "2"})
    assert status == 200 and json.loads(body)["success"], body

    def running() -> bool:
        status, body = net.http("http://master:8089/stats/requests")
        return status == 200 and json.loads(body)["user_count"] == 2

    wait_until(running, 30, "2 users running")

    def held() -> bool:
        return json.loads(net.http("http://target:8765/stats")[1])["sessions"]["current"] == 2

    wait_until(held, 30, "the target holding 2 sessions")
    procs["master"].send_signal(15)  # docker compose stop: SIGTERM
    assert procs["master"].wait(timeout=60) == 0, net.log("master")
    summary = json.loads((clean_reports / "summary.json").read_text())
    assert summary["sessions"]["opened"] == 2 and summary["workers"]["reported"] == 1
    assert procs["worker"].wait(timeout=30) == 0, net.log("worker")


def test_the_healthcheck_fails_until_the_target_listens(
    rendered: Callable[[dict[str, str]], dict[str, Any]],
    image: Image,
    host: Callable[[list[str]], Host],
) -> None:
    net = host(NAMES)
    target = rendered({})["services"]["target"]
    container = from_compose(target, image)
    assert not _healthy(net, target, container, image)  # nothing listens yet: the check must say so
    net.start("target", container, image)
    wait_until(lambda: _healthy(net, target, container, image), 30, "the target healthy")
