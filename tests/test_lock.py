"""requirements/app.lock and dev.lock say what pyproject.toml says (offline, no resolver).

`make lock` writes the locks from pyproject.toml; `make install`, `make install-dev`, the
Dockerfile and CI install exactly the locks (`pip install --require-hashes --no-deps`).
So a range edited in pyproject.toml without `make lock` would never reach an install:
these tests fail until the locks are written again.

- every requirement of pyproject.toml is in the lock, and every version locked for it
  (one per platform or Python fork) satisfies its specifier;
- nothing is locked as a direct dependency ("via chatweb (pyproject.toml)") that
  pyproject.toml no longer names;
- every pin carries hashes; the dev lock pins the app's packages as the app lock does;
- the packages installed in this environment are the locked releases.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
APP_LOCK = ROOT / "requirements" / "app.lock"
DEV_LOCK = ROOT / "requirements" / "dev.lock"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
APP_REQUIREMENTS: list[str] = PROJECT["dependencies"]
DEV_REQUIREMENTS: list[str] = APP_REQUIREMENTS + PROJECT["optional-dependencies"]["dev"]
# How uv names this project in a lock's "via" comments.
DIRECT = "chatweb (pyproject.toml)"


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: Version
    marker: Marker | None
    hashes: tuple[str, ...]
    via: frozenset[str]

    def applies(self) -> bool:
        """Whether this pin is for the Python and platform running the tests."""
        return self.marker is None or self.marker.evaluate()


def read_lock(text: str) -> list[Pin]:
    """The pins of a requirements file as uv/pip-compile write them: `name==version ; marker
    \\` lines, `--hash=sha256:…` continuation lines, then `# via …` comment lines."""
    entries: list[tuple[list[str], set[str]]] = []  # (the logical line's parts, via)
    continued = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            name = line.lstrip("#").strip().removeprefix("via").strip()
            if entries and name:
                entries[-1][1].add(name)
        elif line:
            if not continued:
                entries.append(([], set()))
            entries[-1][0].append(line.removesuffix("\\"))
            continued = line.endswith("\\")
    return [_pin(" ".join(parts).split(), via) for parts, via in entries]


def _pin(words: list[str], via: set[str]) -> Pin:
    hashes = tuple(w.removeprefix("--hash=") for w in words if w.startswith("--hash="))
    requirement = Requirement(" ".join(w for w in words if not w.startswith("--hash=")))
    specifiers = list(requirement.specifier)
    if len(specifiers) != 1 or specifiers[0].operator != "==":
        raise ValueError(f"not pinned with ==: {requirement}")
    return Pin(
        canonicalize_name(requirement.name),
        Version(specifiers[0].version),
        requirement.marker,
        hashes,
        frozenset(via),
    )


def disagreements(requirements: list[str], pins: list[Pin]) -> list[str]:
    """What in `requirements` (pyproject.toml's strings) the lock's pins contradict."""
    problems = []
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        locked = [pin for pin in pins if pin.name == name]
        if not locked:
            problems.append(f"{text}: not in the lock")
        for pin in locked:
            if not requirement.specifier.contains(pin.version, prereleases=True):
                problems.append(f"{text}: the lock has {pin.name}=={pin.version}")
    named = {canonicalize_name(Requirement(text).name) for text in requirements}
    for pin in pins:
        if DIRECT in pin.via and pin.name not in named:
            problems.append(f"{pin.name}=={pin.version}: locked as direct, not in pyproject.toml")
    return problems


LOCKS = {"app": (APP_LOCK, APP_REQUIREMENTS), "dev": (DEV_LOCK, DEV_REQUIREMENTS)}


@pytest.mark.parametrize("which", LOCKS)
def test_the_lock_agrees_with_pyproject(which: str) -> None:
    path, requirements = LOCKS[which]
    pins = read_lock(path.read_text())
    assert len(pins) > 30
    assert disagreements(requirements, pins) == [], "run `make lock` (README, Dependencies)"


@pytest.mark.parametrize("which", LOCKS)
def test_every_pin_has_its_hashes(which: str) -> None:
    pins = read_lock(LOCKS[which][0].read_text())
    assert [pin.name for pin in pins if not pin.hashes] == []
    assert all(h.startswith("sha256:") for pin in pins for h in pin.hashes)


def test_the_dev_lock_pins_the_apps_packages_as_the_app_lock_does() -> None:
    app = {(p.name, p.version, str(p.marker)) for p in read_lock(APP_LOCK.read_text())}
    dev = {(p.name, p.version, str(p.marker)) for p in read_lock(DEV_LOCK.read_text())}
    assert app - dev == set()


def test_this_environment_runs_the_locked_releases() -> None:
    """The suite runs on what `make install-dev` installed from dev.lock (and the image
    installs from app.lock): a package at another release here would mean the tests
    passed on something nobody installs."""
    different = []
    for pin in read_lock(DEV_LOCK.read_text()):
        if not pin.applies():
            continue
        try:
            installed = Version(importlib.metadata.version(pin.name))
        except importlib.metadata.PackageNotFoundError:
            different.append(f"{pin.name}: not installed, {pin.version} locked")
            continue
        if installed != pin.version:
            different.append(f"{pin.name}: {installed} installed, {pin.version} locked")
    assert different == [], "run `make install-dev`"


LOCK_SAMPLE = """\
# This file was autogenerated by uv via the following command:
#    make lock
httpx==0.29.0 \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
    # via chatweb (pyproject.toml)
pymdown-extensions==12.3 ; python_full_version < '3.11.5' \\
    --hash=sha256:cccc
    # via chatweb (pyproject.toml)
pymdown-extensions==13.1.2 ; python_full_version >= '3.11.5' \\
    --hash=sha256:dddd
    # via chatweb (pyproject.toml)
sniffio==1.3.1 \\
    --hash=sha256:eeee
    # via
    #   anyio
    #   chatweb (pyproject.toml)
"""


def test_the_lock_reader_reads_pins_markers_hashes_and_via() -> None:
    pins = read_lock(LOCK_SAMPLE)
    assert [(p.name, str(p.version)) for p in pins] == [
        ("httpx", "0.29.0"),
        ("pymdown-extensions", "12.3"),
        ("pymdown-extensions", "13.1.2"),
        ("sniffio", "1.3.1"),
    ]
    assert pins[0].hashes == ("sha256:aaaa", "sha256:bbbb")
    assert str(pins[1].marker) == 'python_full_version < "3.11.5"'
    assert pins[3].via == {"anyio", DIRECT}


def test_the_check_catches_a_lock_that_disagrees() -> None:
    pins = read_lock(LOCK_SAMPLE)
    agreeing = ["httpx>=0.29,<0.30", "pymdown-extensions>=10.14", "sniffio>=1.3"]
    assert disagreements(agreeing, pins) == []
    # A bound moved in pyproject.toml without `make lock`: the locked release is outside it.
    assert disagreements(["httpx>=0.28,<0.29", *agreeing[1:]], pins) == [
        "httpx>=0.28,<0.29: the lock has httpx==0.29.0"
    ]
    # One fork of a package outside the range is enough.
    assert disagreements([agreeing[0], "pymdown-extensions>=13", agreeing[2]], pins) == [
        "pymdown-extensions>=13: the lock has pymdown-extensions==12.3"
    ]
    # A dependency added to pyproject.toml, or one removed from it.
    assert disagreements([*agreeing, "redis>=8.2,<9"], pins) == ["redis>=8.2,<9: not in the lock"]
    assert disagreements(agreeing[:2], pins) == [
        "sniffio==1.3.1: locked as direct, not in pyproject.toml"
    ]
