"""Prints the requirements of pyproject.toml's ``dev`` extra that this interpreter does not
satisfy (exact ``==`` pins), one per line, for ``make dev-tools`` to install; nothing when all
are present, so that a check with the tools installed needs no network."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
with pyproject.open("rb") as f:
    requirements = tomllib.load(f)["project"]["optional-dependencies"]["dev"]
for requirement in requirements:
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.\-+]+)", requirement)
    if match is None:
        sys.exit(f"dev_tools.py: pin the dev requirement {requirement!r} as name==version")
    name, version = match.groups()
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        installed = None
    if installed != version:
        print(requirement)
