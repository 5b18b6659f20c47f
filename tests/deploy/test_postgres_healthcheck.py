"""docker-compose.yml's postgres healthcheck passes only once the server the other services reach is up.

On a fresh volume the official image first runs a temporary server for its init phase that listens on
the Unix socket alone (`listen_addresses=''`), creates POSTGRES_DB, stops it, then starts the real one.
`pg_isready` over the socket answers "accepting connections" from the temporary server, so `migrate`
(service_healthy) can connect to a server that is shutting down and fail the first `docker compose up`;
over TCP it cannot (docker-library/postgres#146 and #920, maintainer: check with `-h 127.0.0.1`).
Here: a cluster of our own, started as the image starts each server, checked with compose's command."""
from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.deploy_support import interpolate, service
from tests.deploy.unprivileged import NOBODY, Dirs, unprivileged, unprivileged_dirs

DATABASE_ENV = {"POSTGRES_USER": "owner", "POSTGRES_PASSWORD": "9f1c2e7a", "POSTGRES_DB": "postgres"}


@pytest.fixture
def cluster() -> Iterator[tuple[Dirs, Path]]:
    """A fresh data directory of nobody's (PostgreSQL refuses to run as root), its owner POSTGRES_USER."""
    if not all(shutil.which(tool) for tool in ("initdb", "pg_ctl", "pg_isready")):
        pytest.skip("needs PostgreSQL's initdb, pg_ctl and pg_isready")
    with unprivileged_dirs() as dirs:
        data = dirs.volume / "data"
        subprocess.run(unprivileged(["initdb", "-D", str(data), "-U", DATABASE_ENV["POSTGRES_USER"], "--auth=trust",
                                     "--no-sync"], dirs.stage), capture_output=True, check=True, timeout=120)
        yield dirs, data


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pg_ctl(dirs: Dirs, data: Path, action: str, options: str = "") -> None:
    argv = ["pg_ctl", "-D", str(data), "-w", "-l", str(dirs.volume / "server.log"), action]
    subprocess.run(unprivileged([*argv, *(["-o", options] if options else [])], dirs.stage), capture_output=True,
                   check=True, timeout=60)


def _compose_check(sockets: Path, port: int) -> subprocess.CompletedProcess:
    """The postgres service's healthcheck command as compose runs it; the socket directory and port are the
    container's defaults there (/var/run/postgresql, 5432), this cluster's here (libpq's PGHOST, PGPORT)."""
    test = service("postgres")["healthcheck"]["test"]
    assert test[0] == "CMD", test
    argv = [interpolate(str(arg), DATABASE_ENV) for arg in test[1:]]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PGHOST": str(sockets), "PGPORT": str(port)}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)


def test_postgres_is_unhealthy_while_only_the_init_phases_socket_answers(cluster):
    dirs, data = cluster
    sockets, port = dirs.volume, _free_port()
    assert sockets.stat().st_uid == NOBODY.pw_uid
    # docker-entrypoint.sh docker_temp_server_start: `-c listen_addresses='' -p "$PGPORT"`
    _pg_ctl(dirs, data, "start", f"-c listen_addresses='' -k {sockets} -p {port}")
    try:
        during_init = _compose_check(sockets, port)
    finally:
        _pg_ctl(dirs, data, "stop")
    assert during_init.returncode != 0, f"healthy during the init phase: {during_init.stdout}"
    # the real server: the image's postgresql.conf has listen_addresses = '*'
    _pg_ctl(dirs, data, "start", f"-c listen_addresses='127.0.0.1' -k {sockets} -p {port}")
    try:
        serving = _compose_check(sockets, port)
    finally:
        _pg_ctl(dirs, data, "stop")
    assert serving.returncode == 0, serving.stdout + serving.stderr
