"""docker-compose.yml and the Dockerfile, checked without a Docker engine."""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from services.notifier.subscriptions import load_subscriptions

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("fetcher", "dedup", "classifier", "notifier")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _env_names(service: str) -> set[str]:
    """Every environment variable a service's Settings reads."""
    settings = importlib.import_module(f"services.{service}.settings").Settings
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def test_docker_compose_config_accepts_the_file() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        if os.environ.get("WIREWATCH_REQUIRE_COMPOSE"):
            pytest.fail("docker-compose is not installed; `make setup` installs it")
        pytest.skip("docker-compose is not installed (make test installs and requires it)")
    result = subprocess.run([tool, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr


def test_the_broker_is_kafka_3_9_in_kraft_mode_without_auto_created_topics(compose) -> None:
    kafka = compose["services"]["kafka"]
    assert re.fullmatch(r"apache/kafka:3\.9\.\d+", kafka["image"])
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    internal = next(listener for listener in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
                    if listener.startswith("INTERNAL://"))
    assert internal.removeprefix("INTERNAL://") == "kafka:19092"
    assert "healthcheck" in kafka


def test_topics_are_created_before_any_service_starts(compose) -> None:
    topics = compose["services"]["topics"]
    assert topics["command"][-1].startswith("wirewatch create-topics && ")
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in SERVICES:
        depends = compose["services"][name]["depends_on"]
        assert depends["topics"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_scalable_and_configured_by_settings_it_knows(compose, name) -> None:
    service = compose["services"][name]
    # A fixed name or a host port would make a second replica fail to start.
    assert "container_name" not in service and "ports" not in service
    assert service["command"] == ["python", "-m", f"services.{name}"]
    assert (ROOT / "services" / name / "__main__.py").is_file()
    assert service["build"] == "." and (ROOT / "Dockerfile").is_file()
    env = service["environment"]
    assert env["WIREWATCH_BOOTSTRAP_SERVERS"] == "kafka:19092"
    known = _env_names(name)
    prefixed = {key for key in env if key.startswith(("WIREWATCH_", f"{name.upper()}_"))}
    assert prefixed <= known, f"unknown settings: {prefixed - known}"


def test_the_web_view_publishes_its_port_on_loopback_and_keeps_its_data(compose) -> None:
    web = compose["services"]["web"]
    assert web["command"] == ["python", "-m", "services.web"]
    assert web["ports"] == ["127.0.0.1:${WEB_PORT:-8080}:8080"]
    assert "web-data:/data" in web["volumes"] and "web-data" in compose["volumes"]
    env = web["environment"]
    assert env["WIREWATCH_DATA_DIR"] == "/data" and env["WEB_HOST"] == "0.0.0.0"
    assert {k for k in env if k.startswith("WEB_")} <= _env_names("web")


def test_config_files_the_compose_file_points_to_exist_and_load(compose, monkeypatch) -> None:
    mount = compose["x-wirewatch"]["volumes"][0]
    assert mount == "${WIREWATCH_CONFIG_DIR:-./config}:/config:ro"
    feeds = compose["services"]["fetcher"]["environment"]["FETCHER_FEEDS"]
    topics = compose["services"]["topics"]
    assert topics["volumes"] == [mount]
    assert "wirewatch subscriptions import" in topics["command"][-1]
    subs = topics["environment"]["SUBSCRIPTIONS_IMPORT"]
    default = re.compile(r"\$\{\w+:-([^}]+)\}")
    feeds_file = ROOT / "config" / default.search(feeds).group(1)  # type: ignore[union-attr]
    subs_file = ROOT / "config" / default.search(subs).group(1)  # type: ignore[union-attr]
    from services.fetcher.feeds import load_feeds

    assert load_feeds(feeds_file)
    assert load_subscriptions(subs_file)


def test_the_image_copies_what_the_services_need() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = {source for line in dockerfile.splitlines() if line.startswith("COPY ")
              for source in line.split()[1:-1]}
    for path in copied:
        assert (ROOT / path).exists(), path
    assert {"schemas", "services", "wirewatch", "pyproject.toml", "constraints.txt",
            "data/topics"} <= copied
    assert "wirewatch train-topics" in dockerfile  # the classifier's model is built in
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {"schemas", "services", "wirewatch"} & set(ignored)


def test_the_packaged_web_view_carries_its_templates_and_static_files() -> None:
    # The image installs the project as a package: every file the pages need must be
    # package data, not only present in the source tree.
    import tomllib
    from pathlib import PurePosixPath

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())[
        "tool"]["setuptools"]["package-data"]["services"]
    web = ROOT / "services"
    needed = [p.relative_to(web).as_posix() for p in (web / "web").rglob("*")
              if p.is_file() and p.parent.name in ("templates", "static", "vendor")]
    assert needed

    def matches(name: str, pattern: str) -> bool:
        # As setuptools reads them: a "*" never crosses a "/".
        path, glob = PurePosixPath(name), PurePosixPath(pattern)
        return len(path.parts) == len(glob.parts) and path.match(pattern)

    missing = [n for n in needed if not any(matches(n, pattern) for pattern in declared)]
    assert missing == []
