"""The try-out deployment in docs/deploy (compose.yaml, Dockerfile, Caddyfile) stays true to
the code: settings it names exist, the proxy it trusts is the proxy it runs, every node shares
one database, Redis prefix, secret and data dir, and the image installs every package.

Starting it needs a container runtime with registry access: ``docker compose config`` and a
real ``up`` run only where one is there (skipped with the reason otherwise, never failing CI
for its absence).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from labelwright.settings import parse_trusted_proxies

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"
LABELWRIGHT_SERVICES = ("web1", "web2", "worker", "worker-gpu")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def _settings_read() -> set[str]:
    """The LABELWRIGHT_* names labelwright/settings.py reads from the environment."""
    source = (ROOT / "labelwright" / "settings.py").read_text()
    return set(re.findall(r'"(LABELWRIGHT_[A-Z_]+)"', source))


def test_the_try_out_has_every_part_of_the_runbook(compose: dict[str, Any]) -> None:
    assert {"postgres", "redis", "web1", "web2", "worker", "proxy"} <= set(compose["services"])
    assert compose["services"]["worker-gpu"]["profiles"] == ["gpu"]  # only where asked


def test_nodes_share_one_store_and_name_only_real_settings(compose: dict[str, Any]) -> None:
    known = _settings_read()
    shared: dict[str, set[str]] = {}
    for name in LABELWRIGHT_SERVICES:
        service = compose["services"][name]
        env = service["environment"]
        assert set(env) <= known, f"{name}: unknown settings {set(env) - known}"
        for key in ("LABELWRIGHT_DATABASE_URL", "LABELWRIGHT_REDIS_URL",
                    "LABELWRIGHT_REDIS_PREFIX", "LABELWRIGHT_SECRET_KEY",
                    "LABELWRIGHT_DATA_DIR"):
            shared.setdefault(key, set()).add(env[key])
        assert f"data:{env['LABELWRIGHT_DATA_DIR']}" in service["volumes"]
        assert service["build"]["dockerfile"] == "docs/deploy/Dockerfile"
    assert all(len(values) == 1 for values in shared.values()), shared
    assert compose["services"]["worker"]["environment"]["LABELWRIGHT_WORKER_PROJECTIONS"] == "0"


def test_the_web_nodes_trust_exactly_the_proxy(compose: dict[str, Any]) -> None:
    proxy = compose["services"]["proxy"]["networks"]["backend"]["ipv4_address"]
    for name in ("web1", "web2"):
        trusted = compose["services"][name]["environment"]["LABELWRIGHT_TRUSTED_PROXIES"]
        assert parse_trusted_proxies(trusted) == (proxy,)
    caddy = (DEPLOY / "Caddyfile").read_text()
    assert "reverse_proxy web1:8000 web2:8000" in caddy and "health_uri /readyz" in caddy
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in compose["services"]["proxy"]["volumes"]


def test_the_image_installs_every_package() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+)/ \1/$", dockerfile, re.MULTILINE))
    for path in copied:
        assert (ROOT / path).is_dir(), path
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    assert {p.rstrip("*") for p in found} == copied
    # torch from the CPU wheel index by default (the pinned version's default wheel is CUDA).
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu\n" in dockerfile
    assert 'pip install --extra-index-url "$TORCH_INDEX" .' in dockerfile
    assert "USER labelwright" in dockerfile


def _compose_cli() -> list[str]:
    if shutil.which("docker") is None:
        pytest.skip("NOT TESTED: no docker command on this machine")
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("NOT TESTED: docker has no compose plugin here "
                    f"({probe.stderr.strip()[:120]})")
    return ["docker", "compose", "-f", str(DEPLOY / "compose.yaml")]


def test_docker_compose_accepts_the_file() -> None:
    cli = _compose_cli()
    done = subprocess.run([*cli, "config", "--quiet"], capture_output=True, text=True,
                          env={"LABELWRIGHT_SECRET_KEY": "x", "PATH": "/usr/bin:/bin:"
                               "/usr/local/bin"}, timeout=60)
    assert done.returncode == 0, done.stderr
