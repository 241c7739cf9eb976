"""The Dockerfile and .dockerignore say what docs/distributed.md promises.

No image is built or run here (no container engine); see docs/distributed.md. What the build
stage runs, scripts/install-image.sh, is run for real by test_install_image.py; compose.yaml
and the Kubernetes manifests have their own test modules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


# -- Dockerfile ------------------------------------------------------------------------------------
def _dockerfile() -> list[dict[str, Any]]:
    dockerfile_parse = pytest.importorskip(
        "dockerfile_parse", reason="pip install -r tests/deploy/requirements.txt"
    )
    parser = dockerfile_parse.DockerfileParser(path=str(ROOT / "Dockerfile"))
    return [i for i in parser.structure if i["instruction"] != "COMMENT"]


def _final_stage(instructions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    starts = [n for n, i in enumerate(instructions) if i["instruction"] == "FROM"]
    return instructions[starts[-1] :]


def test_dockerfile_is_multi_stage_on_python_slim_bookworm() -> None:
    froms = [i["value"] for i in _dockerfile() if i["instruction"] == "FROM"]
    assert len(froms) >= 2, froms
    # Bookworm, pinned: the release (gcc 12, glibc 2.36) the build steps and wheels were checked on.
    assert all(f.split()[0] == "python:3.11-slim-bookworm" for f in froms)
    assert froms[0].lower().endswith(" as build")


def test_dockerfile_build_stage_has_a_compiler_before_the_install_and_the_runtime_has_none() -> None:
    instructions = _dockerfile()
    final_start = len(instructions) - len(_final_stage(instructions))
    runs = [(n, i["value"]) for n, i in enumerate(instructions) if i["instruction"] == "RUN"]
    compiler = [
        n for n, run in runs if "apt-get install" in run and " gcc " in f" {run} " and "libc6-dev" in run
    ]
    install = [n for n, run in runs if "scripts/install-image.sh" in run]
    assert compiler and install and compiler[0] < install[0] < final_start, runs
    assert not any("apt-get" in run for n, run in runs if n >= final_start)


def test_dockerfile_runs_the_one_install_script_in_the_build_stage() -> None:
    instructions = _dockerfile()
    runs = [i["value"] for i in instructions if i["instruction"] == "RUN"]
    assert any("scripts/install-image.sh /opt/venv /app" in run for run in runs)
    copies = [i["value"] for i in _final_stage(instructions) if i["instruction"] == "COPY"]
    assert "--from=build /opt/venv /opt/venv" in copies
    assert any(c.startswith("--from=build") and c.endswith("/app /app") for c in copies)


def test_dockerfile_final_stage_is_non_root_unbuffered_locust() -> None:
    final = _final_stage(_dockerfile())
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    env = " ".join(i["value"] for i in final if i["instruction"] == "ENV")
    assert "PYTHONUNBUFFERED=1" in env and "/opt/venv/bin" in env
    exposed = {p for i in final if i["instruction"] == "EXPOSE" for p in i["value"].split()}
    assert {"8089", "5557"} <= exposed
    entrypoint = [i["value"] for i in final if i["instruction"] == "ENTRYPOINT"]
    assert [json.loads(e) for e in entrypoint] == [["locust"]]
    cmd = [json.loads(i["value"]) for i in final if i["instruction"] == "CMD"]
    assert cmd == [["-f", "/app/scenarios/echo.py"]]


def test_dockerignore_keeps_what_the_build_copies() -> None:
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"
    }
    assert {".git", ".venv", "tests"} <= ignored
    assert not ignored & {"loadtest", "scenarios", "scripts", "pyproject.toml", "README.md"}


# -- Kubernetes ----------------------------------------------------------------------------------------
def _manifests() -> dict[tuple[str, str], dict[str, Any]]:
    yaml = pytest.importorskip("yaml", reason="pip install -r tests/deploy/requirements.txt")
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] != "Kustomization":
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def test_k8s_manifests_validate_strictly_against_the_kubernetes_schema() -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="pip install -r tests/deploy/requirements.txt")
    version = kv.latest_version()
    manifests = _manifests()
    for doc in manifests.values():
        kv.validate(doc, version, strict=True)  # raises ValidationError
    broken = json.loads(json.dumps(manifests[("Deployment", "loadtest-worker")]))
    broken["spec"]["template"]["spec"]["containers"][0]["resource"] = {}  # a typo strict mode must catch
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, version, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    yaml = pytest.importorskip("yaml", reason="pip install -r tests/deploy/requirements.txt")
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = doc["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_k8s_master_service_worker_and_configmap() -> None:
    m = _manifests()
    config = m[("ConfigMap", "loadtest-config")]["data"]
    assert config["SCENARIO"] == "echo"
    assert all(k == "SCENARIO" or k.startswith("LOCUST_") for k in config)
    assert {"LOCUST_HOST", "LOCUST_USERS", "LOCUST_SPAWN_RATE", "LOCUST_WS_SUMMARY"} <= set(config)
    service = m[("Service", "loadtest-master")]["spec"]
    assert {p["port"] for p in service["ports"]} == {8089, 5557}
    master, worker = m[("Deployment", "loadtest-master")], m[("Deployment", "loadtest-worker")]
    assert service["selector"] == master["spec"]["template"]["metadata"]["labels"]
    assert master["spec"]["replicas"] == 1 and worker["spec"]["replicas"] >= 2
    assert {p["containerPort"] for p in _container(master)["ports"]} == {8089, 5557}
    worker_env = {e["name"]: e.get("value") for e in _container(worker)["env"]}
    assert worker_env["LOCUST_MODE_WORKER"] == "true"
    assert worker_env["LOCUST_MASTER_NODE_HOST"] == "loadtest-master"
    assert int(config["LOCUST_EXPECT_WORKERS"]) == worker["spec"]["replicas"]
    sysctls = worker["spec"]["template"]["spec"]["securityContext"]["sysctls"]
    assert {"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"} in sysctls


def test_k8s_every_container_has_resources_runs_non_root_and_reads_the_configmap() -> None:
    for (kind, name), doc in _manifests().items():
        if kind != "Deployment":
            continue
        pod, container = doc["spec"]["template"]["spec"], _container(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        resources = container["resources"]
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}, name
        if name != "loadtest-target":
            assert container["args"] == ["-f", "/app/scenarios/$(SCENARIO).py"]
            assert container["envFrom"] == [{"configMapRef": {"name": "loadtest-config"}}]
            scenario = next(e for e in container["env"] if e["name"] == "SCENARIO")
            assert scenario["valueFrom"]["configMapKeyRef"] == {"name": "loadtest-config", "key": "SCENARIO"}
