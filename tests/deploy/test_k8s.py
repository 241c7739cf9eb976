"""The Kubernetes manifests: schema-valid, complete per mode, accepted by Locust, and run.

No cluster here. Every manifest is validated offline against the Kubernetes schemas that the
kubernetes-validate wheel ships (strict: unknown fields fail). Each mode (deploy/k8s/headless,
deploy/k8s/ui) is resolved from its kustomization's plain ``resources`` lists. Each Locust
container's args and environment (ConfigMap through envFrom, then env, ``$(NAME)`` expanded as
the kubelet does) are parsed by Locust's own parser with our options registered. Then the
headless mode's containers (the master Job's, a worker's, the target's) run as processes, with
the ConfigMap edited to a short run, in a network namespace where the Service names resolve
to 127.0.0.1 (tests/deploy/host.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.container import Container, from_k8s, k8s_env
from tests.deploy.host import Host, wait_until
from tests.deploy.image import ROOT, Image, final_stage

K8S = ROOT / "deploy" / "k8s"
MODES = ("headless", "ui")
Manifests = dict[tuple[str, str], dict[str, Any]]


def _yaml() -> Any:
    return pytest.importorskip("yaml", reason="pip install -r tests/deploy/requirements.txt")


def _files(kustomization_dir: Path) -> list[Path]:
    """Return the manifest files a kustomization lists, following directories (bases) in order."""
    listed = _yaml().safe_load((kustomization_dir / "kustomization.yaml").read_text())
    assert set(listed) == {"apiVersion", "kind", "resources"}, "only plain resources: nothing else is checked"
    files: list[Path] = []
    for entry in listed["resources"]:
        path = (kustomization_dir / entry).resolve()
        files += _files(path) if path.is_dir() else [path]
    return files


def _mode(mode: str) -> Manifests:
    found: Manifests = {}
    for path in _files(K8S / mode):
        for doc in _yaml().safe_load_all(path.read_text()):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} twice in {mode}"
            found[key] = doc
    return found


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = doc["spec"]["template"]["spec"]
    return pod


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = _pod(doc)["containers"]
    assert len(containers) == 1
    return containers[0]


def _configmaps(manifests: Manifests) -> dict[str, dict[str, str]]:
    return {name: doc["data"] for (kind, name), doc in manifests.items() if kind == "ConfigMap"}


def _master(manifests: Manifests, mode: str) -> dict[str, Any]:
    return manifests[("Job" if mode == "headless" else "Deployment", "loadtest-master")]


# -- the files ------------------------------------------------------------------------------------------
def test_every_manifest_validates_strictly_against_the_kubernetes_schema() -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="pip install -r tests/deploy/requirements.txt")
    version = kv.latest_version()
    paths = sorted(K8S.rglob("*.yaml"))
    docs = [d for p in paths if p.name != "kustomization.yaml" for d in _yaml().safe_load_all(p.read_text())]
    assert len(docs) == 7, [d["kind"] for d in docs]  # 5 shared, the Job, the UI Deployment
    for doc in docs:
        kv.validate(doc, version, strict=True)  # raises ValidationError
    job = next(d for d in docs if d["kind"] == "Job")
    broken = json.loads(json.dumps(job))
    broken["spec"]["backofLimit"] = 0  # a typo strict mode must catch
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, version, strict=True)


def test_each_mode_has_every_part_once_and_every_file_is_used() -> None:
    shared = {
        ("ConfigMap", "loadtest-config"),
        ("Deployment", "loadtest-target"),
        ("Service", "loadtest-target"),
        ("Deployment", "loadtest-worker"),
        ("Service", "loadtest-master"),
    }
    assert set(_mode("headless")) == shared | {("Job", "loadtest-master")}
    assert set(_mode("ui")) == shared | {("Deployment", "loadtest-master")}
    used = {p for mode in MODES for p in _files(K8S / mode)}
    assert used == {p.resolve() for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"}


def test_the_headless_master_is_a_job_that_runs_once_and_is_cleaned_up() -> None:
    job = _mode("headless")[("Job", "loadtest-master")]
    spec, pod = job["spec"], _pod(job)
    # The schema allows restartPolicy Always in a Job (only the API server refuses it): check here.
    assert pod["restartPolicy"] == "Never" and spec["backoffLimit"] == 0
    assert spec["ttlSecondsAfterFinished"] >= 600  # time to read the log before it goes
    assert spec.get("completions", 1) == 1 and spec.get("parallelism", 1) == 1
    env = k8s_env(_container(job), _configmaps(_mode("headless")))
    assert env["LOCUST_HEADLESS"] == "true" and env["LOCUST_RUN_TIME"]


def test_the_ui_master_is_a_deployment_and_the_service_selects_either() -> None:
    for mode in MODES:
        manifests = _mode(mode)
        master = _master(manifests, mode)
        selector = manifests[("Service", "loadtest-master")]["spec"]["selector"]
        labels = master["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), mode
        worker_labels = manifests[("Deployment", "loadtest-worker")]["spec"]["template"]["metadata"]["labels"]
        assert not selector.items() <= worker_labels.items()
    ui = _mode("ui")[("Deployment", "loadtest-master")]
    assert (
        ui["spec"]["replicas"] == 1
        and k8s_env(_container(ui), _configmaps(_mode("ui")))["LOCUST_HEADLESS"] == "false"
    )


def test_every_pod_runs_non_root_with_resources() -> None:
    for mode in MODES:
        for (kind, name), doc in _mode(mode).items():
            if kind not in ("Deployment", "Job"):
                continue
            pod, container = _pod(doc), _container(doc)
            assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            resources = container["resources"]
            assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}, name
    worker = _pod(_mode("headless")[("Deployment", "loadtest-worker")])
    assert {"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"} in worker["securityContext"][
        "sysctls"
    ]


# -- accepted by Locust ---------------------------------------------------------------------------------
def _image_stub() -> Image:
    pytest.importorskip("dockerfile_parse", reason="pip install -r tests/deploy/requirements.txt")
    last = {i["instruction"]: i["value"] for i in final_stage()}
    entrypoint, cmd = json.loads(last["ENTRYPOINT"]), json.loads(last["CMD"])
    return Image(Path("/opt/venv"), Path("/app"), {}, last["WORKDIR"], entrypoint, cmd)


def _parser() -> Any:
    from locust.argument_parser import get_parser

    import loadtest.plugin  # noqa: F401  (registers the --ws-* options on Locust's parser)

    return get_parser(default_config_files=[])


def _locust_options(container: Container) -> Any:
    assert container.argv[0] == "locust", container.argv
    return _parser().parse_args(args=container.argv[1:], env_vars=container.env)


@pytest.mark.parametrize("mode", MODES)
def test_locust_accepts_every_container_and_reads_each_variable(mode: str) -> None:
    manifests = _mode(mode)
    configmaps, image = _configmaps(manifests), _image_stub()
    config = configmaps["loadtest-config"]
    master = from_k8s(_container(_master(manifests, mode)), configmaps, image)
    options = _locust_options(master)  # SystemExit(2) on anything Locust refuses
    assert options.master and options.headless is (mode == "headless")
    assert options.locustfile == f"scenarios/{config['SCENARIO']}.py" and master.workdir == "/app"
    assert options.host == config["LOCUST_HOST"] and options.num_users == int(config["LOCUST_USERS"])
    assert options.run_time == 600  # "10m"
    replicas = manifests[("Deployment", "loadtest-worker")]["spec"]["replicas"]
    assert options.expect_workers == replicas
    # Our options through their LOCUST_WS_* variables: the parsed values, not the names.
    assert options.ws_summary == "reports/summary.json" and options.ws_report == "reports/report.html"
    worker = _locust_options(
        from_k8s(_container(manifests[("Deployment", "loadtest-worker")]), configmaps, image)
    )
    assert worker.worker and worker.master_host == "loadtest-master" and worker.master_port == 5557

    from loadtest.server.options import parse_args

    target = from_k8s(_container(manifests[("Deployment", "loadtest-target")]), configmaps, image)
    assert target.argv[:2] == ["loadtest", "serve"]
    served = parse_args(target.argv[2:])
    assert (served.host, served.port) == ("0.0.0.0", 8765)
    assert config["LOCUST_HOST"] == f"ws://loadtest-target:{served.port}"


def test_every_locust_variable_in_the_manifests_is_read_by_locust() -> None:
    """A LOCUST_* name no option reads would be silently ignored (configargparse skips it)."""
    read = {action.env_var for action in _parser()._actions if getattr(action, "env_var", None)}
    for mode in MODES:
        manifests = _mode(mode)
        for (kind, _), doc in manifests.items():
            if kind in ("Deployment", "Job") and _container(doc)["name"] != "target":
                env = k8s_env(_container(doc), _configmaps(manifests))
                unread = {name for name in env if name.startswith("LOCUST_")} - read
                assert not unread, f"{mode}: no option reads {sorted(unread)}"


# -- run ------------------------------------------------------------------------------------------------
def test_headless_mode_runs_to_completion_as_processes(image: Image, host: Any, tmp_path: Path) -> None:
    manifests = _mode("headless")
    configmaps = _configmaps(manifests)
    # The ConfigMap edited for a short run, as a user would; one worker pod.
    configmaps["loadtest-config"] |= {
        "LOCUST_USERS": "4",
        "LOCUST_SPAWN_RATE": "4",
        "LOCUST_RUN_TIME": "3s",
        "LOCUST_EXPECT_WORKERS": "1",
    }
    net: Host = host(["loadtest-master", "loadtest-target"])
    reports = image.app / "reports"
    for old in reports.iterdir():
        old.unlink()

    def start(name: str, kind: str) -> subprocess.Popen[str]:
        return net.start(name, from_k8s(_container(manifests[(kind, name)]), configmaps, image), image)

    start("loadtest-target", "Deployment")
    wait_until(lambda: net.http("http://loadtest-target:8765/stats")[0] == 200, 30, "the target")
    master = start("loadtest-master", "Job")
    worker = start("loadtest-worker", "Deployment")
    # The Job's verdict is the container's exit status: 0 -> Complete.
    assert master.wait(timeout=120) == 0, net.log("loadtest-master")
    assert worker.wait(timeout=30) == 0, net.log("loadtest-worker")  # quit by the master
    summary = json.loads((reports / "summary.json").read_text())
    stats = json.loads(net.http("http://loadtest-target:8765/stats")[1])
    assert summary["workers"]["reported"] == 1
    assert summary["sessions"]["opened"] == stats["sessions"]["opened"] == 4
    assert summary["closes"]["client"] == {"1000": 4} and summary["handshake_failures"]["total"] == 0
    assert (reports / "report.html").exists()
