"""What a container of the image would run: its argv, environment, folder and open-files limit.

Built from a rendered Compose service or a Kubernetes container spec, with the image's own
``ENTRYPOINT``, ``CMD``, ``ENV`` and ``WORKDIR`` filling what the service leaves out, by the
rules of each: Compose's ``entrypoint``/``command`` and Kubernetes' ``command``/``args``
replace the image's; an environment entry with no value (Compose's pass-through of a variable
that is not set) is left out of the container; Kubernetes puts ``envFrom`` first, ``env``
over it, and expands ``$(NAME)`` in ``command`` and ``args`` from that environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tests.deploy.image import Image


@dataclass(frozen=True)
class Container:
    """One container's process: ``argv[0]`` is looked up on the container's PATH."""

    argv: list[str]
    env: dict[str, str]  # the service's own variables only (the image's are added when it starts)
    workdir: str  # as the image sees it: /app
    nofile: tuple[int, int] | None = None


def from_compose(service: dict[str, Any], image: Image) -> Container:
    """Return the container of a service from ``docker compose config`` output."""
    entrypoint = service.get("entrypoint") or image.entrypoint
    command = service.get("command", image.cmd)
    environment = service.get("environment") or {}
    if isinstance(environment, list):  # ["NAME=value", "NAME"] form
        environment = dict(e.split("=", 1) if "=" in e else (e, None) for e in environment)
    env = {name: str(value) for name, value in environment.items() if value is not None}
    nofile = service.get("ulimits", {}).get("nofile")
    limit = (int(nofile["soft"]), int(nofile["hard"])) if isinstance(nofile, dict) else None
    return Container(
        argv=[*entrypoint, *command],
        env=env,
        workdir=service.get("working_dir") or image.workdir,
        nofile=limit,
    )


_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Expand ``$(NAME)`` as Kubernetes does: known names only, ``$$`` is a literal ``$``."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(one, text)


def k8s_env(spec: dict[str, Any], configmaps: dict[str, dict[str, str]]) -> dict[str, str]:
    """Return a container spec's environment: ``envFrom`` ConfigMaps first, then ``env`` over them."""
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        env |= configmaps[source["configMapRef"]["name"]]
    for entry in spec.get("env", []):
        if "value" in entry:
            env[entry["name"]] = expand(entry["value"], env)
        else:
            ref = entry["valueFrom"]["configMapKeyRef"]
            env[entry["name"]] = configmaps[ref["name"]][ref["key"]]
    return env


def from_k8s(spec: dict[str, Any], configmaps: dict[str, dict[str, str]], image: Image) -> Container:
    """Return the container of a pod template's container spec."""
    env = k8s_env(spec, configmaps)
    command = spec.get("command", image.entrypoint)
    args = spec.get("args", [] if "command" in spec else image.cmd)
    return Container(
        argv=[expand(a, env) for a in [*command, *args]],
        env=env,
        workdir=spec.get("workingDir") or image.workdir,
    )
