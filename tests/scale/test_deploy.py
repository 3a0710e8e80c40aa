"""deploy/ kept in step with the code: every KESHENG_ variable the compose file and the systemd units set
is a setting (api.settings) or a variable kesheng reads, every command they run exists in the CLI with
those options, and the shared settings say what a scaled-out deployment needs."""

from __future__ import annotations

import configparser
import dataclasses
import shlex
from pathlib import Path
from typing import Any

import typer
import yaml

from api.settings import Settings, load_config, variable
from kesheng.cli import app
from nlp.alerts import load_rules
from tests.scale.conftest import ROOT

DEPLOY = ROOT / "deploy"
# Read by kesheng outside Settings: the config file, the data home of the CLI, the registry's gate, and
# the webhook secret the bundled alert rules name (webhook.secret_env).
OTHER_VARIABLES = {"KESHENG_CONFIG", "KESHENG_HOME", "KESHENG_REGISTRY_CONFIG", load_rules().webhook.secret_env}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def _units() -> dict[str, configparser.RawConfigParser]:
    units = {}
    for path in sorted((DEPLOY / "systemd").glob("*.service")):
        parser = configparser.RawConfigParser(strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(path.read_text(encoding="utf-8"))
        units[path.name] = parser
    return units


def _env_file() -> dict[str, str]:
    lines = (DEPLOY / "systemd" / "kesheng.env").read_text(encoding="utf-8").splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _commands() -> list[tuple[str, list[str]]]:
    """(where, argv) of every kesheng command deploy/ runs."""
    found = []
    for name, service in _compose()["services"].items():
        if service.get("command") and service["command"][0] == "kesheng":
            found.append((f"compose.yaml services.{name}", list(service["command"])))
    for name, unit in _units().items():
        argv = shlex.split(unit.get("Service", "ExecStart"))
        assert Path(argv[0]).name == "kesheng", f"{name}: ExecStart runs {argv[0]}"
        found.append((f"systemd/{name}", argv))
    return found


def test_every_variable_deploy_sets_is_one_kesheng_reads() -> None:
    known = {variable(f.name) for f in dataclasses.fields(Settings)} | OTHER_VARIABLES
    compose = _compose()
    settings_sets = [
        (f"services.{name}", service.get("environment") or {}) for name, service in compose["services"].items()
    ]
    for unit_name, unit in _units().items():
        for line in unit.get("Service", "Environment", fallback="").splitlines():
            key, _, value = line.partition("=")
            settings_sets.append((f"systemd/{unit_name}", {key: value}))
    settings_sets.append(("systemd/kesheng.env", _env_file()))
    seen = set()
    for where, environment in settings_sets:
        for key in environment:
            if key.startswith("KESHENG_"):
                assert key in known, f"deploy/{where}: {key} is no setting of api/settings.py"
                seen.add(key)
    assert {"KESHENG_DB_URL", "KESHENG_BROKER_URL", "KESHENG_DATA_DIR", "KESHENG_SECRET_KEY"} <= seen


def test_the_shared_settings_describe_a_valid_scaled_out_deployment() -> None:
    compose_env = {k: str(v) for k, v in _compose()["x-kesheng"]["environment"].items()}
    compose_env["KESHENG_DB_URL"] = compose_env["KESHENG_DB_URL"].replace(
        "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "pw"
    )
    compose_env["KESHENG_SECRET_KEY"] = "x"
    for where, environment in (("compose.yaml", compose_env), ("systemd/kesheng.env", _env_file())):
        settings = load_config(environ={k: v for k, v in environment.items() if k != "KESHENG_SECRET_KEY"}).service
        settings.check_deployment()  # a broker and PostgreSQL: accepted
        assert settings.broker_url.startswith("redis://"), where
        assert settings.broker_visibility_timeout < settings.broker_redispatch_seconds, where
    # Every service of kesheng shares the data folder and the settings.
    compose = _compose()
    for name in ("api", "worker", "trainer"):
        assert compose["services"][name]["volumes"] == ["data:/var/lib/kesheng"], name
    for unit_name, unit in _units().items():
        assert unit.get("Service", "EnvironmentFile") == "/etc/kesheng/kesheng.env", unit_name


def test_every_command_deploy_runs_exists_with_its_options() -> None:
    cli: Any = typer.main.get_command(app)  # a click group (typer's own copy of click)
    queues_seen = set()
    for where, argv in _commands():
        command = cli.commands.get(argv[1])
        assert command is not None, f"deploy/{where}: no command kesheng {argv[1]}"
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for arg in argv[2:]:
            if arg.startswith("--"):
                assert arg.split("=")[0] in options, f"deploy/{where}: kesheng {argv[1]} has no option {arg}"
        # The options parse as the CLI would take them (types, ranges, the queue names).
        context = command.make_context(argv[1], argv[2:], resilient_parsing=False)
        if argv[1] == "worker":
            queues = context.params["queues"].split(",")
            assert set(queues) <= {"batches", "training", "webhooks"}, where
            queues_seen.update(queues)
        if argv[1] == "serve":
            assert context.params["no_worker"], f"deploy/{where}: the API must not run batches itself"
    assert queues_seen == {"batches", "training", "webhooks"}, "every queue has a worker"
