"""The deployment files, read as Docker would (Docker does not run here): every service's
command exists in the project (okr's and MLflow's commands and options parsed by their click
apps, Airflow's by its own parser), the ports agree with the settings, the nginx template and
each other, no password has a default (each secret is ${VAR:?...} from deploy/.env, whose
example holds no value), and the Dockerfile's images install the lock and run unprivileged."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

from fake_docker import deploy
from okr_pipeline.cli import main as okr
from okr_pipeline.config import Api, load_settings
from proxy import PLACEHOLDER, TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
AIRFLOW = Path(sys.executable).with_name("airflow")

# ${VAR:?message}: compose stops with the message when VAR is unset or empty
REQUIRED = re.compile(r"\$\{([A-Z][A-Z0-9_]*):\?[^}]+\}")
ANY_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)([^}]*)\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$|CREDENTIAL", re.IGNORECASE)
# variables that may have a default: they hold no secret
NOT_SECRETS = {"OKR_HTTP_PORT"}
EXPECTED = {
    "postgres",
    "kafka",
    "kafka-ui",
    "mlflow",
    "api",
    "consumer",
    "nginx",
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
}


def _env(service: str) -> dict[str, str]:
    environment = SERVICES[service].get("environment", {})
    assert isinstance(environment, dict), f"{service}: environment as a mapping"
    return {key: str(value) for key, value in environment.items()}


def _command(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    assert isinstance(command, list), f"{service}: the command as a list (no shell)"
    return [str(part) for part in command]


def _strings(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every string in the compose file with where it is (keys of mappings included)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{where}.{key}", str(key)
            yield from _strings(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, f"{where}[{i}]")
    elif node is not None:
        yield where, str(node)


def _filled(text: str) -> str:
    """`text` with each ${VAR...} replaced by a harmless value, as compose would with .env."""
    return ANY_VARIABLE.sub(lambda m: "s3cr3t-value" if ":?" in m.group(2) else "8080", text)


def _host_port(url_or_address: str) -> tuple[str, int]:
    parts = urlsplit(url_or_address if "://" in url_or_address else f"//{url_or_address}")
    assert parts.hostname and parts.port, url_or_address
    return parts.hostname, parts.port


def _published(service: str) -> dict[int, str]:
    """The container ports a service publishes, with the host side."""
    found = {}
    for mapping in SERVICES[service].get("ports", []):
        host, _, container = str(mapping).rpartition(":")
        found[int(container)] = host
    return found


def _check_click(group: click.Group, argv: list[str]) -> None:
    """The subcommand `argv` names exists and takes these options (parsed, not run)."""
    command: click.Command = group
    args = list(argv)
    while isinstance(command, click.Group):
        assert args and args[0] in command.commands, f"no command {args[:1]} in {argv}"
        command = command.commands[args.pop(0)]
    command.make_context(command.name or "", [_filled(a) for a in args])


def test_every_service_is_there():
    assert set(SERVICES) == EXPECTED


def test_okr_commands_exist_with_their_options():
    okr_services = {name for name, s in SERVICES.items() if _command_of(s)[:1] == ["okr"]}
    assert okr_services == {"api", "consumer"}
    for service in okr_services:
        _check_click(okr, _command(service)[1:])
    # the image's default command too
    default = _default_command("app")
    assert default[0] == "okr"
    _check_click(okr, default[1:])


def _command_of(service: dict[str, Any]) -> list[str]:
    return [str(part) for part in service.get("command", [])]


def test_mlflow_server_takes_its_options():
    from mlflow.cli import cli as mlflow

    command = _command("mlflow")
    assert command[:2] == ["mlflow", "server"]
    _check_click(mlflow, command[1:])


def test_airflow_commands_parse(tmp_path: Path):
    """Each Airflow service's command parses in Airflow's own CLI (in a process of its own:
    importing Airflow configures the whole process)."""
    if not AIRFLOW.is_file():
        if os.environ.get("CI"):
            pytest.fail("Airflow is not installed: uv sync --group airflow")
        pytest.skip("Airflow is not installed: uv sync --group airflow")
    commands = {name: _command(name) for name in SERVICES if name.startswith("airflow-")}
    assert all(c[0] == "airflow" for c in commands.values())
    script = (
        "import json, sys\n"
        "from airflow.cli.cli_parser import get_parser\n"
        "parser = get_parser()\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    parser.parse_args(argv)\n"
        "print('parsed')\n"
    )
    stage_default = _default_command("airflow")
    argvs = [c[1:] for c in commands.values()] + [stage_default[1:]]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKR_", "AIRFLOW"))}
    env["AIRFLOW_HOME"] = str(tmp_path / "airflow")
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(argvs)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and "parsed" in result.stdout, result.stderr[-3000:]
    assert {c[1] for c in commands.values()} == {"db", "api-server", "scheduler", "dag-processor"}


def test_the_okr_environment_is_valid_settings(monkeypatch: pytest.MonkeyPatch):
    """The environment every okr process gets is loaded by the real settings: they agree with
    nginx, MLflow, Kafka and PostgreSQL."""
    environment = _env("consumer")
    # the API alone signs sessions
    assert _env("api").pop("OKR_API__SECRET_KEY").startswith("${OKR_SECRET_KEY:?")
    assert {k: v for k, v in _env("api").items() if k != "OKR_API__SECRET_KEY"} == environment
    for name in ("airflow-scheduler", "airflow-dag-processor", "airflow-api-server"):
        assert _env(name).items() >= environment.items(), name  # the DAGs' tasks run okr too
    for key, value in environment.items():
        monkeypatch.setenv(key, _filled(value))
    settings = load_settings()

    # the API: nginx's upstream, the healthcheck, the image's port; the config's default port
    assert settings.api.port == Api().port
    nginx = _env("nginx")
    assert _host_port(nginx["OKR_API_UPSTREAM"]) == ("api", settings.api.port)
    assert f"127.0.0.1:{settings.api.port}/health" in " ".join(
        SERVICES["api"]["healthcheck"]["test"]
    )
    assert f"EXPOSE {settings.api.port}" in _stage("app")
    assert settings.api.host == "0.0.0.0" and settings.api.proxies == 1  # behind nginx
    assert "api" not in {s for s in SERVICES if _published(s)}  # only through nginx

    # MLflow: the tracking URI is the server's address
    assert _host_port(settings.tracking_uri) == ("mlflow", _option(_command("mlflow"), "--port"))
    allowed = _option_text(_command("mlflow"), "--allowed-hosts").split(",")
    assert f"mlflow:{_option(_command('mlflow'), '--port')}" in allowed

    # Kafka: the bootstrap address is what the broker advertises
    assert settings.stream.backend == "kafka"
    advertised = _env("kafka")["KAFKA_ADVERTISED_LISTENERS"].split("://", 1)[1]
    assert settings.stream.bootstrap_servers == advertised
    assert _env("kafka-ui")["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == advertised
    assert "broker,controller" in _env("kafka")["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert not any("zookeeper" in (s.get("image") or "") for s in SERVICES.values())

    # PostgreSQL: the user and database of the warehouse; Airflow's and MLflow's databases
    postgres = _env("postgres")
    warehouse = urlsplit(settings.warehouse_url)
    assert (warehouse.hostname, warehouse.port, warehouse.username) == (
        "postgres",
        5432,
        postgres["POSTGRES_USER"],
    )
    assert warehouse.path == f"/{postgres['POSTGRES_DB']}"
    created = (DEPLOY / "postgres" / "initdb" / "10-databases.sql").read_text()
    airflow_db = urlsplit(_filled(_env("airflow-scheduler")["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]))
    mlflow_db = urlsplit(_filled(_option_text(_command("mlflow"), "--backend-store-uri")))
    for url in (airflow_db, mlflow_db):
        assert (url.hostname, url.port, url.username) == ("postgres", 5432, "okr")
        assert f"CREATE DATABASE {url.path.lstrip('/')} OWNER okr;" in created


def _option_text(command: list[str], option: str) -> str:
    return command[command.index(option) + 1]


def _option(command: list[str], option: str) -> int:
    return int(_option_text(command, option))


def test_ports_agree_with_nginx_and_airflow():
    nginx = _env("nginx")
    listen = int(nginx["OKR_NGINX_LISTEN"])
    assert _published("nginx") == {listen: "${OKR_HTTP_PORT:-8080}"}
    assert f"127.0.0.1:{listen}/health" in " ".join(SERVICES["nginx"]["healthcheck"]["test"])
    # the template's placeholders are all given, and the image renders exactly those
    assert set(PLACEHOLDER.findall(TEMPLATE.read_text())) == set(nginx)
    assert "NGINX_ENVSUBST_FILTER=^OKR_" in _stage("proxy")
    assert "COPY deploy/nginx/okr.conf.template /etc/nginx/templates/" in _stage("proxy")
    assert f"EXPOSE {listen}" in _stage("proxy")
    # the static files the image holds are where the template serves them from
    assert f"/app/static {nginx['OKR_STATIC_ROOT']}" in _stage("proxy")

    # Airflow's API server: its port, the execution API's URL, the loopback-only publication
    api_server = _option(_command("airflow-api-server"), "--port")
    execution = _env("airflow-scheduler")["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    assert _host_port(execution) == ("airflow-api-server", api_server)
    assert urlsplit(execution).path == "/execution/"
    assert f"127.0.0.1:{api_server}/api/v2/monitor/health" in " ".join(
        SERVICES["airflow-api-server"]["healthcheck"]["test"]
    )
    # consoles only on this host's loopback; nothing else but nginx published
    for service in SERVICES:
        for host in _published(service).values():
            assert service == "nginx" or host.startswith("127.0.0.1:"), (service, host)
    assert set(s for s in SERVICES if _published(s)) == {
        "nginx",
        "airflow-api-server",
        "mlflow",
        "kafka-ui",
    }


def test_the_static_folder_the_image_copies_is_the_apps():
    """The proxy image takes the dashboard's static files from STATIC_DIR: the folder the app
    serves at /static/ (the dashboard's)."""
    from okr_pipeline.api import create_app

    declared = re.search(r"^ARG STATIC_DIR=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert declared
    app = create_app()
    # the folders of what serves /static/ (the dashboard's blueprint), not the docs' own
    holders = [
        app.blueprints.get(rule.endpoint.rsplit(".", 1)[0], app)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/static/")
    ]
    folders = {Path(h.static_folder).resolve() for h in holders if h.static_folder}
    assert folders == {(ROOT / declared.group(1)).resolve()}
    assert (ROOT / declared.group(1) / "dashboard.css").is_file()


def test_no_password_has_a_default():
    required: set[str] = set()
    for where, text in _strings(COMPOSE):
        for match in ANY_VARIABLE.finditer(text):
            name, rest = match.groups()
            if rest.startswith(":?"):
                required.add(name)
            else:
                assert name in NOT_SECRETS, f"{where}: ${{{name}{rest}}} may be empty or defaulted"
        # a URL's password is a required variable, never a literal
        for password in re.findall(r"://[^:/@\s]+:(\S+?)@", text):
            assert REQUIRED.fullmatch(password), f"{where}: a password in a URL: {text}"
    for service in SERVICES:
        for key, value in _env(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED.fullmatch(value), f"{service}: {key} must be ${{VAR:?...}}"
    assert required == {
        "POSTGRES_PASSWORD",
        "AIRFLOW_FERNET_KEY",
        "AIRFLOW_SECRET_KEY",
        "AIRFLOW_JWT_SECRET",
        "KAFKA_UI_PASSWORD",
        "OKR_SECRET_KEY",
    }
    # the example names each of them and holds no value
    example = (DEPLOY / ".env.example").read_text()
    assignments = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    assert set(assignments) == required
    assert all(value == "" for value in assignments.values())
    # the real file is never committed nor sent to a build
    assert "deploy/.env" in (ROOT / ".gitignore").read_text().split()
    assert "deploy/.env" in (ROOT / ".dockerignore").read_text().split()
    # and no image holds a secret
    for line in DOCKERFILE.splitlines():
        if line.startswith(("ENV", "ARG")):
            assert not SECRET_NAME.search(line.split("#")[0]), line


def _stages() -> dict[str, str]:
    """The Dockerfile's stages by name, each its text."""
    parts = re.split(r"^FROM\s+", DOCKERFILE, flags=re.MULTILINE)[1:]
    stages = {}
    for part in parts:
        header = part.splitlines()[0]
        named = re.search(r"\sAS\s+(\S+)", header, re.IGNORECASE)
        assert named, f"an unnamed stage: FROM {header}"
        stages[named.group(1)] = part
    return stages


def _stage(name: str) -> str:
    return _stages()[name]


def _default_command(stage: str) -> list[str]:
    """The CMD of a stage (exec form)."""
    found = re.search(r"^CMD (\[.*\])$", _stage(stage), re.MULTILINE)
    assert found, f"{stage}: no CMD in exec form"
    command: list[str] = json.loads(found.group(1))
    return command


def test_the_images_install_the_lock_and_run_unprivileged():
    stages = _stages()
    targets = {
        service["build"]["target"]
        for service in SERVICES.values()
        if isinstance(service.get("build"), dict)
    }
    assert targets == {"app", "airflow", "proxy"}
    for target in targets:
        users = re.findall(r"^USER\s+(\S+)", stages[target], re.MULTILINE)
        assert users and users[-1] not in ("root", "0"), f"{target} runs as {users[-1:]}"
    # every uv sync installs the lock as it is, compiled to bytecode
    syncs = re.findall(r"uv sync[^\n]*", DOCKERFILE)
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs), syncs
    assert "UV_COMPILE_BYTECODE=1" in stages["build"]
    assert "source=uv.lock" in stages["build"] and "COPY pyproject.toml uv.lock" in DOCKERFILE
    assert "--group airflow" in stages["build-airflow"]
    # the runtime images copy the environment, not the build tools
    assert "COPY --from=build /app/.venv /app/.venv" in stages["app"]
    assert "COPY --from=build-airflow /app/.venv /app/.venv" in stages["airflow"]
    assert "uv" not in re.findall(r"^COPY --from=(\S+)", stages["app"], re.MULTILINE)


def test_deploy_starts_and_stops_with_docker_compose(tmp_path: Path):
    compose = ["compose", "-f", str(DEPLOY / "compose.yaml")]
    result, calls = deploy(tmp_path / "stop", "--stop")
    assert result.returncode == 0 and calls == [[*compose, "down"]]
    result, calls = deploy(tmp_path / "bad", "--now")
    assert result.returncode == 2 and "--start-only" in result.stderr and calls == []
    if not (DEPLOY / ".env").exists():  # a developer's own is left alone
        result, calls = deploy(tmp_path / "start", "--start-only")
        assert result.returncode == 1 and calls == []
        assert "deploy/.env is missing: copy deploy/.env.example" in result.stderr


def test_deploy_script_flags():
    script = (ROOT / "scripts" / "deploy").read_text()
    for flag in ("--start-only", "--test-only", "--stop"):
        assert f"  {flag})" in script
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "deploy")]).returncode == 0
    # the body limit it checks is the app's
    limit = re.search(r"^BODY_LIMIT=(\d+)", script, re.MULTILINE)
    assert limit and int(limit.group(1)) == Api().max_body_bytes
