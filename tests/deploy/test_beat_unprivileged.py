"""Done means (issue 12): Celery beat started as compose starts it, by an unprivileged user in a working
directory and home it cannot write, stays up with the reconciliation schedule loaded — its schedule
file on the beat volume — and answers `qb24 healthcheck beat`. Without the setting, the old failure."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
import redis

from config.settings import load_settings
from store.crypto import TokenCipher
from tests.config.test_settings import VALID
from tests.deploy.deploy_support import DATABASE_VARIABLES, dockerfile_env, interpolate, service
from tests.deploy.unprivileged import NOBODY, Dirs, base_env, process_status, unprivileged, unprivileged_dirs
from tests.services import WORKER_PROCESS_REDIS_URL, postgres_schema, redis_client
from tests.support import wait_for
from workers.celery_app import DEFAULT_QUEUE, RECONCILE_ALL, StateDirScheduler, beat_schedule_file, make_celery

QUEUES = ("celery", "realtime", "bulk")


@pytest.fixture
def dirs() -> Iterator[Dirs]:
    with unprivileged_dirs() as made:
        yield made


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """The Redis database beat publishes to, emptied before and after (a later worker must not take them)."""
    redis_client()  # skips (or fails in CI) when Redis is not there
    client = redis.Redis.from_url(WORKER_PROCESS_REDIS_URL)
    client.delete(*QUEUES)
    yield client
    client.delete(*QUEUES)


def beat_env(dirs: Dirs, database_url: str) -> dict[str, str]:
    """The image's ENV, an operator's .env, and compose's environment for beat with the test's services
    in place of compose's `postgres` and `redis`, and its volume's directory in place of the mount."""
    beat = service("beat")
    compose_env = {key: interpolate(str(value), {name: "x" for name in DATABASE_VARIABLES})
                   for key, value in beat["environment"].items()}
    mount = PurePosixPath(beat["volumes"][0].split(":")[1])
    schedule = PurePosixPath(compose_env["BEAT_SCHEDULE_FILE"]).relative_to(mount)
    dotenv = {"APP_BASE_URL": "https://qb24.example.com", "SECRET_KEY": secrets.token_urlsafe(32),
              "TOKEN_ENCRYPTION_KEY": TokenCipher.generate_key(), "QBO_CLIENT_ID": "ABc123",
              "QBO_CLIENT_SECRET": "qbo-client-secret",
              "QBO_REDIRECT_URI": "https://qb24.example.com/quickbooks/callback",
              "QBO_ENVIRONMENT": "production", "QBO_VERIFIER_TOKEN": "verifier-secret",
              "B24_CLIENT_ID": "app.6543.1234", "B24_CLIENT_SECRET": "b24-client-secret",
              "RECONCILE_INTERVAL_S": "1"}  # the first due tasks within a second, not five minutes
    return {**base_env(dirs), **dockerfile_env(), **dotenv, **compose_env, "DATABASE_URL": database_url,
            "REDIS_URL": WORKER_PROCESS_REDIS_URL, "BEAT_SCHEDULE_FILE": str(dirs.volume / schedule)}


def queued_tasks(client: redis.Redis) -> list[str]:
    """Task names waiting in the default queue (kombu's Redis transport: a list of JSON envelopes)."""
    return [json.loads(raw)["headers"]["task"] for raw in client.lrange(DEFAULT_QUEUE, 0, -1)]


def test_beat_as_an_unprivileged_user_stays_up_with_the_reconciliation_schedule(dirs, broker, tmp_path):
    command = service("beat")["command"]  # exactly compose's; `celery` from PATH, as in the image
    log = tmp_path / "beat.log"
    with postgres_schema() as database_url, log.open("w") as output:
        env = beat_env(dirs, database_url)
        beat = subprocess.Popen(unprivileged(command, dirs.stage), cwd=dirs.app, env=env, stdout=output,
                                stderr=subprocess.STDOUT)
        try:
            # Two rounds: the second comes after beat wrote its schedule file on the first.
            wait_for(lambda: queued_tasks(broker).count(RECONCILE_ALL) >= 2 or beat.poll() is not None,
                     "beat to queue the reconciliation twice", timeout=25)
            assert beat.poll() is None, log.read_text()[-3000:]
            status = process_status(beat.pid)  # the exec'd chain keeps the pid: this is beat itself
            assert status["Uid"].split() == [str(NOBODY.pw_uid)] * 4 and int(status["CapEff"], 16) == 0
            healthcheck = subprocess.run(["qb24", "healthcheck", "beat", "--timeout", "5"], env=env,
                                         capture_output=True, text=True, timeout=25, check=False)
            assert healthcheck.returncode == 0, healthcheck.stderr
            assert healthcheck.stdout.startswith("celerybeat@")
        finally:
            beat.terminate()
            beat.wait(timeout=15)
    assert "Sending due task reconcile (qb24.reconcile_all)" in log.read_text()
    schedule_files = list(dirs.volume.iterdir())
    assert schedule_files and all(path.name.startswith("celerybeat-schedule") for path in schedule_files)
    assert all(path.stat().st_uid == NOBODY.pw_uid for path in schedule_files)
    assert not any(dirs.app.iterdir()) and not any(dirs.home.iterdir())


def test_without_the_setting_beat_crash_loops_in_a_directory_it_cannot_write(dirs, broker, tmp_path):
    """The image before issue 12: Celery's default schedule file is `celerybeat-schedule` in the cwd."""
    command = [*service("beat")["command"], "--schedule=celerybeat-schedule"]
    with postgres_schema() as database_url:
        env = beat_env(dirs, database_url)
        beat = subprocess.run(unprivileged(command, dirs.stage), cwd=dirs.app, env=env, capture_output=True,
                              text=True, timeout=60, check=False)
    assert beat.returncode != 0
    assert "Permission denied" in beat.stdout + beat.stderr
    assert RECONCILE_ALL not in queued_tasks(broker)


def test_with_no_setting_and_a_home_it_cannot_write_the_schedule_goes_to_a_temp_directory_of_its_own(dirs):
    env = {**base_env(dirs), "TMPDIR": str(dirs.volume)}
    where = subprocess.run(unprivileged(["python", "-c", "from workers.celery_app import beat_schedule_file; "
                                         "print(beat_schedule_file())"], dirs.stage),
                           cwd=dirs.app, env=env, capture_output=True, text=True, timeout=30, check=True)
    assert where.stdout.strip() == str(dirs.volume / f"qb24-{NOBODY.pw_uid}" / "celerybeat-schedule")


def test_the_schedule_file_follows_the_setting_else_the_users_state_directory(tmp_path):
    assert beat_schedule_file({"BEAT_SCHEDULE_FILE": "/var/lib/qb24/beat/s", "HOME": str(tmp_path)}) == \
        "/var/lib/qb24/beat/s"
    assert beat_schedule_file({"HOME": str(tmp_path)}) == str(tmp_path / ".local/state/qb24/celerybeat-schedule")
    assert beat_schedule_file({"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "s")}) == \
        str(tmp_path / "s/qb24/celerybeat-schedule")


def test_the_scheduler_makes_its_private_directory_and_refuses_one_others_can_write(tmp_path):
    celery = make_celery(load_settings(VALID))
    fresh = tmp_path / "state" / "qb24" / "celerybeat-schedule"
    scheduler = StateDirScheduler(app=celery, schedule_filename=str(fresh), lazy=True)
    scheduler.setup_schedule()
    assert set(scheduler.schedule) >= {"reconcile", "reconcile-daily"}
    scheduler.close()
    assert fresh.parent.stat().st_mode & 0o777 == 0o700
    if os.geteuid() != 0:
        pytest.skip("needs root to hand a directory to another user")
    shared = tmp_path / "shared"  # like /tmp: another user's, and everyone may write in it
    shared.mkdir()
    shared.chmod(0o1777)
    os.chown(shared, NOBODY.pw_uid, NOBODY.pw_gid)
    with pytest.raises(PermissionError, match="BEAT_SCHEDULE_FILE"):
        StateDirScheduler(app=celery, schedule_filename=str(shared / "celerybeat-schedule"), lazy=True).setup_schedule()
    assert not any(shared.iterdir())
