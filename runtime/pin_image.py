"""Print the runtime image's constraints: kdedge-runtime[serve]'s requirements and everything they pull
in, pinned to the versions installed in this environment (run it where the tests pass, on Python 3.11):

    python runtime/pin_image.py > runtime/image-constraints.txt
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

HEADER = """\
# Every package the runtime image installs, pinned to the versions the tests and the gates ran under
# (kdedge-runtime[serve] and what it pulls in, on Python 3.11). The Dockerfile installs exactly these
# (--no-deps) and `pip check`s them; regenerate from an environment that passes the tests:
#   python runtime/pin_image.py > runtime/image-constraints.txt"""


def requirements() -> list[str]:
    project = tomllib.loads((Path(__file__).parent / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["serve"]]


def pinned(names: list[str]) -> dict[str, str]:
    """Each distribution in `names` and its dependencies (no extras), with its installed version."""
    found: dict[str, str] = {}
    waiting = [Requirement(name).name for name in names]
    while waiting:
        name = waiting.pop()
        key = name.lower().replace("_", "-")
        if key in found:
            continue
        distribution = importlib.metadata.distribution(name)
        found[key] = distribution.version
        for text in distribution.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                waiting.append(requirement.name)
    return dict(sorted(found.items()))


if __name__ == "__main__":
    print(HEADER)
    for name, version in pinned(requirements()).items():
        print(f"{name}=={version}")
