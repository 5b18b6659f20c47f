"""The image and the compose stack as files (issue 12 item 2): healthchecks, credentials from .env,
beat's schedule on a volume its user owns, loopback-only web, the hashed lock, the build context."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import PurePosixPath

import pytest
import yaml

from tests.deploy.deploy_support import (DATABASE_VARIABLES, ROOT, InterpolationError, compose, dockerfile_instructions,
                                         dockerignored, interpolate, service)

APP_ROLES = {"web": "web", "worker": "worker", "worker-bulk": "worker", "beat": "beat"}
DATABASE_ENV = {"POSTGRES_USER": "owner", "POSTGRES_PASSWORD": "9f1c2e7a", "POSTGRES_DB": "ledger"}


def _option(command: list[str], name: str) -> str | None:
    """The value of `--name=value` or `--name value` in an argv."""
    for index, arg in enumerate(command):
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
        if arg == name and index + 1 < len(command):
            return command[index + 1]
    return None


def test_every_long_running_service_has_a_healthcheck():
    services = compose()["services"]
    long_running = {name for name, spec in services.items() if spec.get("restart") != "no"}
    assert long_running == {"web", "worker", "worker-bulk", "beat", "redis", "postgres"}
    for name in long_running:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert not services[name]["healthcheck"].get("disable"), name


def test_the_app_services_check_themselves_with_qb24_healthcheck():
    for name, role in APP_ROLES.items():
        spec = service(name)
        test = spec["healthcheck"]["test"]
        assert test[:4] == ["CMD", "qb24", "healthcheck", role], name
        if role == "worker":  # it pings its own node: the name the worker was started under
            assert _option(test, "--node") == _option(spec["command"], "--hostname"), name


def test_database_credentials_come_from_env_into_postgres_and_database_url():
    services = compose()["services"]
    postgres = {key: interpolate(value, DATABASE_ENV) for key, value in services["postgres"]["environment"].items()}
    assert postgres == DATABASE_ENV
    for name in ("migrate", *APP_ROLES):
        database_url = interpolate(services[name]["environment"]["DATABASE_URL"], DATABASE_ENV)
        assert database_url == "postgresql://owner:9f1c2e7a@postgres:5432/ledger", name


@pytest.mark.parametrize("missing", DATABASE_VARIABLES)
def test_a_missing_database_variable_stops_compose_naming_it(missing):
    env = {key: value for key, value in DATABASE_ENV.items() if key != missing}
    for where in (service("postgres")["environment"][missing], service("web")["environment"]["DATABASE_URL"]):
        with pytest.raises(InterpolationError, match=rf"{missing}.*\.env"):
            interpolate(where, env)
    with pytest.raises(InterpolationError, match=missing):  # set but empty counts as missing (`:?`)
        interpolate(service("postgres")["environment"][missing], {**env, missing: ""})


def test_no_password_or_secret_is_written_into_compose():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "qb24:qb24@" not in text and "POSTGRES_PASSWORD: qb24" not in text
    for name, spec in compose()["services"].items():
        for key, value in (spec.get("environment") or {}).items():
            if any(word in key for word in ("PASSWORD", "SECRET", "TOKEN", "KEY")):
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", str(value)), f"{name}: {key} is not taken from .env"
            if key == "DATABASE_URL":
                userinfo = re.match(r"postgresql://(\$\{[^}]+\}):(\$\{[^}]+\})@", value)
                assert userinfo and userinfo.group(2).startswith("${POSTGRES_PASSWORD:?"), f"{name}: {value}"


def test_beat_keeps_its_schedule_on_a_named_volume_the_runtime_user_owns():
    beat, declared = service("beat"), compose()["volumes"]
    assert _option(beat["command"], "--schedule") is None and "-s" not in beat["command"]
    schedule = PurePosixPath(beat["environment"]["BEAT_SCHEDULE_FILE"])
    mounts = dict(reversed(volume.split(":")[:2]) for volume in beat["volumes"])
    assert str(schedule.parent) in mounts, "BEAT_SCHEDULE_FILE is not on a volume"
    assert mounts[str(schedule.parent)] in declared  # a named volume, not a bind mount of the host
    user = _runtime_user()
    created = [args for instruction, args in dockerfile_instructions()
               if instruction == "RUN" and "install -d" in args and f"-o {user}" in args]
    assert created and str(schedule.parent) in created[0], "the image does not make the volume's directory"


def _runtime_user() -> str:
    users = [args.strip() for instruction, args in dockerfile_instructions() if instruction == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image runs as root"
    return users[-1]


def test_the_runtime_user_has_a_home():
    user = _runtime_user()
    useradd = [args for instruction, args in dockerfile_instructions() if instruction == "RUN" and "useradd" in args]
    assert useradd and user in useradd[0].split()
    assert "--create-home" in useradd[0] or " -m " in useradd[0], "gunicorn's control socket needs a home"


def test_web_is_published_on_loopback_only_and_nothing_else_is_published():
    for name, spec in compose()["services"].items():
        ports = spec.get("ports", [])
        if name == "web":
            assert ports and all(str(port).startswith("127.0.0.1:") for port in ports), ports
        else:
            assert not ports, f"{name} publishes {ports}"


def test_the_image_installs_every_dependency_from_the_hashed_lock():
    instructions = dockerfile_instructions()
    installs = [(index, args) for index, (instruction, args) in enumerate(instructions)
                if instruction == "RUN" and "pip install" in args]
    from_lock = [index for index, args in installs if "--require-hashes -r requirements.lock" in args]
    assert from_lock, "no `pip install --require-hashes -r requirements.lock`"
    for index, args in installs:  # anything else installs the project alone
        assert index in from_lock or "--no-deps" in args, args
    copied_lock = [index for index, (instruction, args) in enumerate(instructions)
                   if instruction == "COPY" and "requirements.lock" in args.split()]
    assert copied_lock and copied_lock[0] < from_lock[0]


def test_the_dockerignore_keeps_local_state_and_secrets_out_of_the_build_context():
    for path in (".venv/bin/python", "var/qb24.db", "tests/artifacts/i18n/de.png", ".git/HEAD", ".env",
                 "webhooks/__pycache__/app.cpython-311.pyc", "qb24.db", "celerybeat-schedule.dat", ".env.local"):
        assert dockerignored(path), f"{path} would be sent to the Docker daemon"
    for path in ("setup.cfg", "pyproject.toml", "README.md", "requirements.lock", "webhooks/app.py",
                 "webhooks/translations/de/LC_MESSAGES/messages.mo", ".env.example"):
        assert not dockerignored(path), f"{path} is left out of the build context"


def test_every_file_the_dockerfile_copies_is_in_the_build_context():
    for instruction, args in dockerfile_instructions():
        if instruction == "COPY":
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert not dockerignored(source), f"{source} is copied but .dockerignore leaves it out"


def test_git_ignores_beat_schedule_files():
    names = ["celerybeat-schedule", "celerybeat-schedule.db", "celerybeat-schedule.dat", "celerybeat-schedule.dir",
             "celerybeat-schedule.bak"]
    ignored = subprocess.run(["git", "check-ignore", *names], cwd=ROOT, capture_output=True, text=True, check=False)
    assert ignored.stdout.split() == names, ignored.stderr


def _compose_command() -> list[str] | None:
    """A real compose implementation when this machine has one (the Docker client alone has none)."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) and subprocess.run([*command, "version"], capture_output=True,
                                                       check=False).returncode == 0:
            return command
    return None


def test_compose_itself_reads_the_file_and_refuses_a_missing_password(tmp_path):
    command = _compose_command()
    if command is None:
        pytest.skip("no `docker compose` or `docker-compose` here; the checks above read the file instead")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    env_file = tmp_path / ".env"
    env_file.write_text("POSTGRES_USER=owner\nPOSTGRES_DB=ledger\n")
    refused = subprocess.run([*command, "config"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert refused.returncode != 0 and "POSTGRES_PASSWORD" in refused.stderr
    env_file.write_text("POSTGRES_USER=owner\nPOSTGRES_PASSWORD=9f1c2e7a\nPOSTGRES_DB=ledger\n")
    config = subprocess.run([*command, "config"], cwd=tmp_path, capture_output=True, text=True, check=True)
    services = yaml.safe_load(config.stdout)["services"]
    assert services["web"]["environment"]["DATABASE_URL"] == "postgresql://owner:9f1c2e7a@postgres:5432/ledger"
    assert services["beat"]["environment"]["BEAT_SCHEDULE_FILE"].startswith("/var/lib/qb24/beat/")
