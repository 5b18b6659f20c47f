"""What the deployment files say, read as Docker and compose read them (there is no Docker engine here:
the tests check the files, and run the commands the image and compose would run, directly)."""
from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DATABASE_VARIABLES = ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")

# Compose's interpolation: $$ is a literal $; ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
# ${VAR?error} (https://docs.docker.com/reference/compose-file/interpolation/).
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:\?|\?|:-|-)(?P<arg>[^}]*))?\}"
                       r"|\$(?P<bare>[A-Za-z_]\w*)")


class InterpolationError(ValueError):
    """A `${VAR:?message}` whose variable is missing, as `docker compose` reports it."""


def interpolate(value: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg, present = match.group("op"), match.group("arg") or "", env.get(name)
        missing = present is None or (present == "" and op in (":?", ":-"))
        if missing and op in (":?", "?"):
            raise InterpolationError(f"required variable {name} is missing a value: {arg}")
        if missing and op in (":-", "-"):
            return arg
        return present or ""
    return _VARIABLE.sub(replace, value)


def compose() -> dict[str, Any]:
    """docker-compose.yml as compose reads it (YAML merge keys `<<` included), before interpolation."""
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def dockerfile_env() -> dict[str, str]:
    """The image's ENV variables (`ENV K=V K2=V2` form)."""
    env = {}
    for instruction, arguments in dockerfile_instructions():
        if instruction == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(arguments))
    return env


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative to the context) out of the build context: the last
    matching pattern wins, `!` re-includes, a pattern matching a directory covers what is under it, and
    `**` matches any number of directories (https://docs.docker.com/build/concepts/context/#dockerignore-files)."""
    ignored = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        parts = pattern.lstrip("!").strip("/").split("/")
        path_parts = path.strip("/").split("/")
        if any(_match(parts, path_parts[:end]) for end in range(1, len(path_parts) + 1)):
            ignored = not negated
    return ignored


def _match(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(pattern[1:], parts[skip:]) for skip in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], pattern[0]) and _match(pattern[1:], parts[1:])

