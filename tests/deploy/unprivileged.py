"""Run a command as the unprivileged `nobody`, in directories it cannot write: how the image runs beat
(USER qb24 in a root-owned /app), reproduced without Docker."""
from __future__ import annotations

import os
import pwd
import shlex
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.deploy_support import ROOT

NOBODY = pwd.getpwnam("nobody")
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Dirs:
    app: Path  # the working directory: root's, like the image's /app
    home: Path  # a home nobody cannot write either
    volume: Path  # beat's volume: nobody's own
    stage: Path  # a mount point for unprivileged() (empty; no files are written there)


@contextmanager
def unprivileged_dirs() -> Iterator[Dirs]:
    """Directories outside the root-only pytest tmp tree (nobody must reach them), removed afterwards."""
    if os.geteuid() != 0 or not (shutil.which("setpriv") and shutil.which("unshare")):
        pytest.skip("needs root and util-linux's setpriv and unshare to run a command as nobody")
    base = Path(tempfile.mkdtemp(prefix="qb24-deploy-"))
    try:
        dirs = Dirs(app=base / "app", home=base / "home", volume=base / "volume", stage=base / "stage")
        for directory in (base, dirs.app, dirs.home, dirs.volume, dirs.stage):
            directory.mkdir(exist_ok=True)
            directory.chmod(0o755)
        os.chown(dirs.volume, NOBODY.pw_uid, NOBODY.pw_gid)
        yield dirs
    finally:
        shutil.rmtree(base)


def unprivileged(argv: list[str], stage: Path) -> list[str]:
    """`argv` as nobody:nogroup with no capabilities and no supplementary groups.

    When the venv's interpreter lies under a directory nobody cannot enter (this machine's pyenv
    Python in /root, mode 700), a private mount namespace shows nobody that interpreter's tree alone
    (a tmpfs over the closed directory, the tree bound back into it); nothing changes outside it."""
    drop = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all", *argv]
    closed = _closed_ancestor(Path(os.path.realpath(sys.executable)))
    if closed is None:
        return drop
    hidden, opening = map(shlex.quote, map(str, closed))
    script = (f"mount --bind {opening} {stage} && mount -t tmpfs -o mode=755,size=1m tmpfs {hidden} && "
              f"mkdir -p {opening} && mount --bind {stage} {opening} && exec \"$@\"")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *drop]


def _closed_ancestor(path: Path) -> tuple[Path, Path] | None:
    """The outermost directory above `path` that others cannot search, and its child toward `path`."""
    for parent in reversed(path.parents):
        if not parent.stat().st_mode & stat.S_IXOTH:
            return parent, parent / path.relative_to(parent).parts[0]
    return None


def base_env(dirs: Dirs) -> dict[str, str]:
    """What every process of the image has: PATH to the console scripts, the project, a HOME."""
    return {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(dirs.home), "LANG": "C.UTF-8"}


def process_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)
