"""The docker compose deployment, checked statically (no Docker engine runs here).

docker/docker-compose.yml: every service has an image or a build whose context and Dockerfile
exist, every mounted host file or directory exists, every service has a healthcheck,
depends_on names existing services (and ``service_healthy`` ones have a healthcheck), named
volumes are declared. docker/Dockerfile: multi-stage, non-root, a healthcheck, and every COPY
source is in the build context. The Prometheus and Grafana files agree with the compose file.
(promtool checks of the Prometheus files: tests/e2e/test_prometheus_config.py.)
"""

from __future__ import annotations

import base64
import fnmatch
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.dashboards import DASHBOARDS, exported_metric_names

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def _build(service: dict[str, Any]) -> dict[str, Any] | None:
    build = service.get("build")
    if build is None:
        return None
    return {"context": build} if isinstance(build, str) else build


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume entry (short or long syntax)."""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":")
            out.append((parts[0], parts[1]))
        else:
            out.append((v["source"], v["target"]))
    return out


def _is_host_path(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def test_compose_has_the_services_the_issue_lists() -> None:
    assert set(SERVICES) == {"kafka", "streamlearn", "replay", "prometheus", "grafana"}
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    assert SERVICES["prometheus"]["image"].startswith("prom/prometheus:")
    assert SERVICES["grafana"]["image"].startswith("grafana/grafana:")
    env = SERVICES["streamlearn"]["environment"]
    assert env["STREAMLEARN_KAFKA_BOOTSTRAP"] == "kafka:9092"  # Kafka mode
    assert "--synthetic" in SERVICES["replay"]["command"]  # the bundled dataset


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_has_an_image_or_a_build_that_exists(name: str) -> None:
    service = SERVICES[name]
    build = _build(service)
    assert build is not None or "image" in service, f"{name}: neither image nor build"
    if "image" in service:
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", service["image"]), f"{name}: pin a tag"
    if build is not None:
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_mounted_host_path_exists_and_named_volumes_are_declared(name: str) -> None:
    declared = set(COMPOSE.get("volumes") or {})
    for source, target in _mounts(SERVICES[name]):
        assert target.startswith("/"), f"{name}: mount target {target!r} is not absolute"
        if _is_host_path(source):
            path = (COMPOSE_FILE.parent / source).resolve()
            assert path.exists(), f"{name}: mounted {source} ({path}) does not exist"
        else:
            assert source in declared, f"{name}: named volume {source!r} is not declared"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_healthcheck(name: str) -> None:
    check = SERVICES[name].get("healthcheck")
    assert check and not check.get("disable"), f"{name}: no healthcheck"
    test = check["test"]
    assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1
    for key in ("interval", "timeout"):
        assert re.fullmatch(r"\d+(ms|s|m)", str(check.get(key, ""))), f"{name}: {key}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_depends_on_names_existing_services(name: str) -> None:
    deps = SERVICES[name].get("depends_on", {})
    if isinstance(deps, list):
        deps = {d: {"condition": "service_started"} for d in deps}
    for dep, spec in deps.items():
        assert dep in SERVICES and dep != name, f"{name}: depends on unknown service {dep!r}"
        condition = spec.get("condition", "service_started")
        assert condition in (
            "service_started",
            "service_healthy",
            "service_completed_successfully",
        )
        if condition == "service_healthy":
            assert SERVICES[dep].get("healthcheck"), f"{name}: {dep} has no healthcheck"


def test_depends_on_has_no_cycle() -> None:
    graph = {n: set(s.get("depends_on", {})) for n, s in SERVICES.items()}
    done: set[str] = set()
    while graph:
        free = [n for n, deps in graph.items() if deps <= done]
        assert free, f"cycle among {sorted(graph)}"
        for n in free:
            done.add(n)
            del graph[n]


def test_kafka_is_a_single_kraft_node_reachable_by_the_service() -> None:
    env = SERVICES["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "ZOOKEEPER" not in " ".join(env)
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16
    advertised = env["KAFKA_ADVERTISED_LISTENERS"]
    assert "PLAINTEXT://kafka:9092" in advertised.split(",")
    assert env["KAFKA_LOG_DIRS"] in [t for _, t in _mounts(SERVICES["kafka"])]
    for service in ("streamlearn", "replay"):
        text = " ".join(map(str, SERVICES[service].get("command", [])))
        env_s = SERVICES[service].get("environment", {})
        assert "kafka:9092" in text or env_s.get("STREAMLEARN_KAFKA_BOOTSTRAP") == "kafka:9092"


def test_prometheus_scrapes_the_service_and_loads_the_alert_rules() -> None:
    mounts = dict((t, s) for s, t in _mounts(SERVICES["prometheus"]))
    config_path = (COMPOSE_FILE.parent / mounts["/etc/prometheus/prometheus.yml"]).resolve()
    config = yaml.safe_load(config_path.read_text())
    targets = [
        t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]
    ]
    port = SERVICES["streamlearn"]["environment"]["STREAMLEARN_PORT"]
    assert f"streamlearn:{port}" in targets
    for rule_file in config["rule_files"]:
        # rule files are resolved beside the config file, in the container too
        assert f"/etc/prometheus/{rule_file}" in mounts


def test_grafana_provisions_the_datasource_and_the_dashboards() -> None:
    mounts = dict((t, s) for s, t in _mounts(SERVICES["grafana"]))
    provisioning = (COMPOSE_FILE.parent / mounts["/etc/grafana/provisioning"]).resolve()
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (ds,) = datasources["datasources"]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
    prom_config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    assert ds["jsonData"]["timeInterval"] == prom_config["global"]["scrape_interval"]
    providers = yaml.safe_load((provisioning / "dashboards" / "streamlearn.yml").read_text())
    (provider,) = providers["providers"]
    path = provider["options"]["path"]
    host_dir = (COMPOSE_FILE.parent / mounts[path]).resolve()
    assert host_dir == DASHBOARDS.resolve()
    assert sorted(host_dir.glob("*.json")), "no dashboards to provision"
    # Grafana loads every *.json below the path as a dashboard: nothing else may be there
    assert not [p for p in host_dir.rglob("*.json") if p.parent != host_dir]
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (host_dir / Path(home).relative_to(path)).is_file()


def test_alert_rules_use_only_metrics_the_service_exports() -> None:
    rules = yaml.safe_load((DOCKER / "prometheus" / "alerts.yml").read_text())
    names = exported_metric_names()
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "StreamlearnLearningStalled",
        "StreamlearnConsumerLagGrowing",
        "StreamlearnDLQRateHigh",
        "StreamlearnDriftStorm",
        "StreamlearnSnapshotTooOld",
    }
    for alert, expr in alerts.items():
        used = set(re.findall(r"\bstreamlearn_\w+", expr))
        assert used and used <= names, (alert, used - names)


# ------------------------------------------------------------------------------ Dockerfile
DOCKERFILE = (DOCKER / "Dockerfile").read_text()


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in _instructions(DOCKERFILE):
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    stages = _stages()
    assert len(stages) >= 2
    names = [s[0][1].split()[-1] for s in stages]
    assert names[:2] == ["builder", "runtime"]
    runtime = stages[-1]
    users = [arg for ins, arg in runtime if ins == "USER"]
    assert users and users[-1] not in ("root", "0")
    health = [arg for ins, arg in runtime if ins == "HEALTHCHECK"]
    assert len(health) == 1 and "/health" in health[0]
    assert any(ins == "COPY" and "--from=builder" in arg for ins, arg in runtime)
    # the runtime stage installs nothing with pip: only the builder's virtualenv is copied
    assert not any(ins == "RUN" and "pip install" in arg for ins, arg in runtime)
    builder = " ".join(arg for ins, arg in stages[0] if ins == "RUN")
    assert "--constraint docker/requirements.lock" in builder
    assert any(ins == "RUN" and "consumers.warmup" in arg for ins, arg in runtime)


def _ignored(rel: str, patterns: list[str]) -> bool:
    """Whether the build context excludes ``rel`` (.dockerignore rules, last match wins)."""
    excluded = False
    for pat in patterns:
        negate = pat.startswith("!")
        pat = pat[1:] if negate else pat
        pat = pat.rstrip("/")
        if fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(rel, pat + "/*"):
            excluded = not negate
    return excluded


def test_every_copy_source_is_in_the_build_context() -> None:
    build = _build(SERVICES["streamlearn"])
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    ignore_file = DOCKER / "Dockerfile.dockerignore"
    patterns = [
        line.strip()
        for line in ignore_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copies = [arg for ins, arg in _instructions(DOCKERFILE) if ins == "COPY"]
    assert copies
    for arg in copies:
        words = shlex.split(arg)
        if any(w.startswith("--from=") for w in words):
            continue
        sources = [w for w in words if not w.startswith("--")][:-1]
        for src in sources:
            path = context / src
            assert path.exists(), f"COPY {src}: {path} does not exist"
            assert not _ignored(src.rstrip("/"), patterns), f"COPY {src}: excluded by {ignore_file}"
    # the package's sources are in the context, the rest of the repository is not
    assert not _ignored("streamlearn/schema.py", patterns)
    assert _ignored("tests", patterns) and _ignored(".venv", patterns)


def test_the_lock_pins_every_runtime_dependency() -> None:
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (DOCKER / "requirements.lock").read_text().splitlines()
        if "==" in line
    }
    for dep in deps:
        name = re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is not pinned in docker/requirements.lock"


def _required_from_env(value: str, name: str) -> bool:
    """``${NAME:?message}``: compose refuses to start when NAME is unset or empty."""
    return re.fullmatch(rf"\$\{{{name}:\?[^}}]+\}}", str(value)) is not None


def test_secrets_come_from_the_environment_with_no_default() -> None:
    grafana = SERVICES["grafana"]["environment"]
    assert _required_from_env(grafana["GF_SECURITY_ADMIN_PASSWORD"], "GRAFANA_ADMIN_PASSWORD")
    assert str(grafana.get("GF_AUTH_ANONYMOUS_ENABLED", "false")).lower() == "false"
    assert "GF_AUTH_ANONYMOUS_ORG_ROLE" not in grafana
    svc = SERVICES["streamlearn"]["environment"]
    assert svc["STREAMLEARN_HOST"] == "0.0.0.0"  # so it needs a token (else it refuses to start)
    assert _required_from_env(svc["STREAMLEARN_API_TOKEN"], "STREAMLEARN_API_TOKEN")
    # the snapshot signing key outlives the container (snapshots in Kafka must stay verifiable)
    image_env = (DOCKER / "Dockerfile").read_text()
    key_dir = re.search(r"STREAMLEARN_SNAPSHOT_KEY_FILE=(\S+)/snapshot.key", image_env).group(1)
    assert key_dir in dict((t, s) for s, t in _mounts(SERVICES["streamlearn"]))
    assert "streamlearn-keys" in COMPOSE["volumes"]


def test_prometheus_has_no_lifecycle_api() -> None:
    assert not [a for a in SERVICES["prometheus"]["command"] if "lifecycle" in a]
