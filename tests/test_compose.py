"""``deploy/compose.yaml`` is the reference layout of ``docs/deploy.md``: the services the page
draws at the addresses it gives, every setting its table says each node needs, and the
addresses in nginx, the database URL and the Sentinels' files agreeing with each other."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from portal.config import DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCS = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict = COMPOSE["services"]
WEB = ("web-1", "web-2")
WORKERS = ("worker-1", "worker-2")
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")
#: settings only the web nodes take (gunicorn.conf.py's), and one of two alternatives
WEB_ONLY = {"PORTAL_BIND", "PORTAL_WEB_WORKERS"}
INSTEAD = {"PORTAL_REDIS_URL": "PORTAL_REDIS_SENTINELS"}
#: keys of a service in the compose specification that this file may use
SERVICE_KEYS = {
    "image", "build", "command", "environment", "volumes", "tmpfs", "networks", "ports",
    "depends_on", "restart", "healthcheck", "stop_signal", "stop_grace_period", "configs",
}  # fmt: skip


def _section(title: str) -> str:
    start = DOCS.index(f"## {title}\n")
    end = DOCS.find("\n## ", start + 1)
    return DOCS[start : end if end > 0 else None]


def _documented_settings() -> set[str]:
    """The PORTAL_* names in the first column of 'Settings every node needs'."""
    names: set[str] = set()
    for line in _section("Settings every node needs").splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`(PORTAL_[A-Z0-9_]+)`", line.split("|")[1]))
    return names


def _env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (SERVICES[service].get("environment") or {}).items()}


def _address(service: str) -> str:
    return SERVICES[service]["networks"]["portal"]["ipv4_address"]


def _sentinel_conf() -> str:
    return COMPOSE["configs"]["sentinel"]["content"]


def test_the_services_are_the_documented_layout_at_its_addresses():
    assert set(SERVICES) == {
        "proxy", "migrate", "postgres", "redis-1", "redis-2", *WEB, *WORKERS, *SENTINELS,
    }  # fmt: skip
    layout = _section("The reference layout")
    addresses = [_address(name) for name in SERVICES]
    assert len(set(addresses)) == len(addresses)
    for name in SERVICES:
        assert _address(name) in layout, f"{name}'s address is not in the docs' layout"
    for name, service in SERVICES.items():
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)
    # compose is described where it is run from
    assert "deploy/compose.yaml" in _section("Compose")
    for name in SERVICES:
        assert f"`{name}`" in _section("Compose"), name


def test_only_the_proxy_is_reachable_from_outside():
    published = {name for name, service in SERVICES.items() if service.get("ports")}
    assert published == {"proxy"}
    assert sorted(SERVICES["proxy"]["ports"]) == ["443:443", "80:80"]


@pytest.mark.parametrize("service", [*WEB, *WORKERS, "migrate"])
def test_every_node_gets_every_setting_the_docs_say_it_needs(service):
    documented = _documented_settings()
    assert {"PORTAL_SECRET_KEY", "PORTAL_DATABASE_URL", "PORTAL_REDIS_SENTINELS"} <= documented
    env = _env(service)
    wanted = documented - set(INSTEAD) - (set() if service in WEB else WEB_ONLY)
    assert wanted - set(env) == set(), f"{service} lacks documented settings"
    assert not set(INSTEAD) & set(env)  # Sentinels, not a single Redis URL
    # nothing set that the docs do not name
    portal_env = {k for k in env if k.startswith("PORTAL_")}
    assert portal_env - documented == set()
    # secrets are never written into the file
    for name in ("PORTAL_SECRET_KEY", "PORTAL_AUDIT_SEAL_KEY", "PORTAL_METRICS_TOKEN"):
        assert env[name].startswith("${") and env[name].endswith("}"), name
    assert "${POSTGRES_PASSWORD:?" in env["PORTAL_DATABASE_URL"]


def test_every_documented_setting_is_one_the_portal_reads():
    sources = "\n".join(
        p.read_text(encoding="utf-8")
        for p in [*ROOT.joinpath("portal").rglob("*.py"), DEPLOY / "gunicorn.conf.py"]
    )
    for name in _documented_settings():
        key = name.removeprefix("PORTAL_")
        assert key in DEFAULTS or f'"{key}"' in sources or name in sources, name


def test_the_addresses_agree_with_each_other():
    env = _env("web-1")
    # nginx's upstreams are the web nodes' gunicorn binds, each on its own address
    nginx = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    upstreams = set(re.findall(r"^\s*server\s+([\d.]+:\d+)", nginx, re.M))
    binds = {_env(web)["PORTAL_BIND"] for web in WEB}
    assert upstreams == binds
    for web in WEB:
        assert _env(web)["PORTAL_BIND"].split(":")[0] == _address(web)
    mounts = SERVICES["proxy"]["volumes"]
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in mounts
    # the database (as compose sees it once the secret is filled in)
    url = urlsplit(re.sub(r"\$\{[^}]*\}", "secret", env["PORTAL_DATABASE_URL"]))
    pg = SERVICES["postgres"]["environment"]
    assert (url.hostname, url.path, url.username) == (
        _address("postgres"),
        "/" + pg["POSTGRES_DB"],
        pg["POSTGRES_USER"],
    )
    # Redis: the Sentinels the portal asks are the Sentinel services, on the port they listen
    # on, and they watch the master under the name the portal asks for, by a majority
    conf = _sentinel_conf()
    port = re.search(r"^port (\d+)$", conf, re.M)
    assert port
    assert env["PORTAL_REDIS_SENTINELS"].split(",") == [
        f"{_address(s)}:{port.group(1)}" for s in SENTINELS
    ]
    monitor = re.search(r"^sentinel monitor (\S+) (\S+) (\d+) (\d+)$", conf, re.M)
    assert monitor
    name, host, redis_port, quorum = monitor.groups()
    assert name == env["PORTAL_REDIS_SENTINEL_SERVICE"]
    assert (host, redis_port) == (_address("redis-1"), "6379")
    assert int(quorum) == len(SENTINELS) // 2 + 1
    replica = SERVICES["redis-2"]["command"]
    assert replica[replica.index("--replicaof") + 1 :] == [_address("redis-1"), "6379"]
    assert conf.strip() in _section("Redis with Sentinel") or all(
        line in _section("Redis with Sentinel") for line in conf.splitlines()[2:]
    )


def test_web_nodes_and_workers_run_the_portal_as_the_units_do():
    units = DEPLOY / "systemd"
    for web in WEB:
        service = SERVICES[web]
        assert service["command"] == [
            "gunicorn",
            "-c",
            "/opt/refund-portal/deploy/gunicorn.conf.py",
        ]
        grace = _seconds(service["stop_grace_period"])
        assert grace == _unit_stop_seconds(units / "refund-portal-web.service")
    for worker in WORKERS:
        service = SERVICES[worker]
        assert service["command"] == ["refund-portal", "worker"]
        assert _seconds(service["stop_grace_period"]) == _unit_stop_seconds(
            units / "refund-portal-worker@.service"
        )
    assert SERVICES["migrate"]["command"] == ["refund-portal", "init-db"]
    for name in (*WEB, *WORKERS):
        service, env = SERVICES[name], _env(name)
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        mounted = {v.split(":")[1] for v in service["volumes"]}
        assert {env["PORTAL_EVIDENCE_DIR"], env["PORTAL_IMPORT_DIR"]} <= mounted
        assert env["PROMETHEUS_MULTIPROC_DIR"] in service["tmpfs"]
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    evidence = {v for n in (*WEB, *WORKERS) for v in SERVICES[n]["volumes"] if "evidence" in v}
    assert len(evidence) == 1  # one shared volume, at one path


def test_the_image_has_what_the_services_run():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY deploy deploy" in dockerfile and "WORKDIR /opt/refund-portal" in dockerfile
    assert "gunicorn" in dockerfile and "[postgres,metrics]" in dockerfile
    # pg_dump must be the server's major version or newer (refund-portal backup)
    client = re.search(r"postgresql-client-(\d+)", dockerfile)
    server = re.search(r"postgres:(\d+)", SERVICES["postgres"]["image"])
    assert client and server and int(client.group(1)) >= int(server.group(1))
    for plugin in re.findall(r"\./plugins/(\w+)", dockerfile):
        assert (ROOT / "plugins" / plugin / "pyproject.toml").exists()


def _seconds(value: str) -> int:
    m = re.fullmatch(r"(\d+)s", str(value))
    assert m, value
    return int(m.group(1))


def _unit_stop_seconds(unit: Path) -> int:
    m = re.search(r"^TimeoutStopSec=(\d+)$", unit.read_text(encoding="utf-8"), re.M)
    assert m
    return int(m.group(1))
