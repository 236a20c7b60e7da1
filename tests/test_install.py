"""Installs that cannot be hijacked: `pip install .` from a checkout needs no package named
kdedge-runtime from an index (the runtime ships inside, at this checkout's exact version), the
distribution names are not the unrelated `kdedge` on PyPI, and the runtime image is pinned."""

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

import kdedge_runtime

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = tomllib.loads((ROOT / "runtime" / "pyproject.toml").read_text())["project"]


def test_distribution_names_are_ours_and_the_runtime_is_not_looked_up_on_an_index():
    assert PROJECT["name"] == "kdedge-distill" and RUNTIME["name"] == "kdedge-runtime"
    extras = PROJECT["optional-dependencies"]
    requirements = [*PROJECT["dependencies"], *(r for extra in extras.values() for r in extra)]
    assert not [r for r in requirements if re.match(r"kdedge(-runtime)?\b(?!-distill)", r)], requirements
    assert RUNTIME["version"] == kdedge_runtime.__version__
    for requirement in [*RUNTIME["dependencies"], *RUNTIME["optional-dependencies"]["serve"]]:
        name = re.split(r"[<>=\[]", requirement)[0]
        ours = [*PROJECT["dependencies"], *extras["serve"]]
        assert any(r.startswith(name) for r in ours), f"kdedge-distill ships the runtime but not its dependency {name}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """This checkout built as a user's `pip install .` builds it (offline: the backend is installed)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "--quiet", "--wheel-dir", str(out), str(ROOT)], check=True, capture_output=True)
    return next(out.glob("kdedge_distill-*.whl"))


def test_the_wheel_carries_this_checkouts_runtime_exactly(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        source = ROOT / "runtime" / "kdedge_runtime"
        for path in source.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                name = f"kdedge_runtime/{path.relative_to(source).as_posix()}"
                assert archive.read(name) == path.read_bytes(), name
    assert "kdedge/cli.py" in names and "kdedge/_recipes/sentiment-bilstm.yaml" in names
    assert not re.search(r"^Requires-Dist: kdedge", metadata, flags=re.MULTILINE)
    assert "kdedge = kdedge.cli:app" in entry_points and "kdedge-runtime = kdedge_runtime.cli:main" in entry_points


def test_the_wheel_alone_gives_both_packages_and_commands(wheel, tmp_path):
    """Installed by itself (its dependencies are this environment's), it imports and runs without any
    separate kdedge-runtime distribution."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    probe = ("import kdedge, kdedge_runtime, kdedge.cli, kdedge_runtime.cli; "
             "print(kdedge.__file__); print(kdedge_runtime.__file__)")
    shown = subprocess.run([sys.executable, "-c", probe], env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert all(path.startswith(str(target)) for path in shown), shown


def test_the_runtime_image_is_pinned_and_checks_its_health():
    dockerfile = (ROOT / "runtime" / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, flags=re.MULTILINE)[1]
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base) and "FROM ${PYTHON_IMAGE}" in dockerfile
    assert "pip install --no-deps --requirement image-constraints.txt" in dockerfile and "pip check" in dockerfile
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", dockerfile, flags=re.MULTILINE)
    lines = [line for line in (ROOT / "runtime" / "image-constraints.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    pins = dict(line.split("==") for line in lines)
    assert all(re.fullmatch(r"[a-z0-9.-]+==[\w.+-]+", line) for line in lines), lines
    for requirement in [*RUNTIME["dependencies"], *RUNTIME["optional-dependencies"]["serve"]]:
        assert re.split(r"[<>=\[]", requirement)[0] in pins, requirement
