"""requirements.lock (`make lock`, pip-tools) pins every runtime dependency, transitive ones included,
with hashes, at setup.cfg's versions and at the versions the tested venv runs."""
from __future__ import annotations

import configparser
import re
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.deploy.deploy_support import ROOT

BUILD_DISTRIBUTIONS = {"setuptools", "wheel"}  # pyproject.toml's build-system.requires, built with the lock


def _lock_entries() -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes) of every requirement in the lock; fails on any line that is not `name==v`."""
    text = re.sub(r"\\\n", " ", (ROOT / "requirements.lock").read_text())
    entries = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split(" --hash=")
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", requirement.strip())
        assert match, f"not an exact pin: {line[:80]}"  # no ranges, URLs, -e or index options
        entries[canonicalize_name(match.group(1))] = (match.group(2), [option.strip() for option in options])
    return entries


def _install_requires() -> list[Requirement]:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    return [Requirement(line) for line in setup["options"]["install_requires"].strip().splitlines()]


def test_every_requirement_is_pinned_with_hashes():
    entries = _lock_entries()
    assert len(entries) > len(_install_requires())
    for name, (_version, hashes) in entries.items():
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), f"{name} has no hash"


def test_every_pin_of_setup_cfg_is_in_the_lock_at_its_version():
    entries = _lock_entries()
    for requirement in _install_requires():
        (pinned,) = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        assert entries.get(canonicalize_name(requirement.name), (None,))[0] == pinned, requirement


def test_the_lock_covers_the_runtime_closure_at_the_venvs_versions():
    """Walk the installed distributions' requirements from setup.cfg's pins (their extras too, markers
    for this interpreter): every distribution reached is in the lock at the version the tests run."""
    entries, seen = _lock_entries(), {}
    todo = [(requirement, frozenset(requirement.extras)) for requirement in _install_requires()]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if (name, extras) in seen:
            continue
        seen[(name, extras)] = installed = metadata.version(name)
        assert name in entries, f"{name} (needed through {requirement}) is not in requirements.lock"
        assert entries[name][0] == installed, f"{name}: lock {entries[name][0]}, venv {installed}"
        for line in metadata.requires(name) or []:
            needed = Requirement(line)
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in extras or {""}):
                todo.append((needed, frozenset(needed.extras)))
    reached = {name for name, _ in seen}
    assert {"kombu", "billiard", "vine", "psycopg-binary", "jinja2", "markupsafe"} <= reached
    assert set(entries) - reached <= BUILD_DISTRIBUTIONS, "the lock pins what nothing needs any more"


def test_the_lock_has_the_wheel_builds_own_requirements():
    """The image builds the project with --no-build-isolation: setuptools and wheel come from the lock."""
    entries = _lock_entries()
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for requirement in map(Requirement, build):
        version = entries.get(canonicalize_name(requirement.name), (None,))[0]
        assert version and SpecifierSet(str(requirement.specifier)).contains(version), requirement


def test_make_lock_regenerates_the_lock_from_runtime_requirements_only():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^lock:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe, "no `make lock` target"
    command = recipe.group(1).replace("\\\n", " ")
    assert "pip-compile" in command and "--generate-hashes" in command and "-o requirements.lock setup.cfg" in command
    assert "--extra" not in command and "--all-extras" not in command  # dev tools stay out of the image
    assert "#    make lock" in (ROOT / "requirements.lock").read_text()  # the header names the command
