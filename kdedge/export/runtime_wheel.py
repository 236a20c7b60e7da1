"""The runtime travels with the artifact: a wheel of the installed kdedge-runtime, written into the
artifact's `runtime/` folder, so a target with Python and pip installs it from the artifact alone.

The wheel is built from the package this process imports (pure Python, a few hundred kilobytes), with
its dependencies pinned to the versions installed here, the ones the artifact's gates ran under. It is
written deterministically (fixed timestamps, sorted entries), so the same runtime gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import zipfile
from pathlib import Path

RUNTIME_DIR = "runtime"
DEPENDENCIES = ("onnxruntime", "numpy", "tokenizers")
SERVE_DEPENDENCIES = ("starlette", "uvicorn")
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def wheel_name(version: str) -> str:
    return f"kdedge_runtime-{version}-py3-none-any.whl"


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _metadata(version: str) -> str:
    lines = ["Metadata-Version: 2.1", "Name: kdedge-runtime", f"Version: {version}",
             "Summary: Serve kdedge artifacts with onnxruntime, numpy and tokenizers only (no torch)",
             "License: Apache-2.0", "Requires-Python: >=3.10"]
    lines += [f"Requires-Dist: {name}=={_installed(name)}" for name in DEPENDENCIES]
    lines.append("Provides-Extra: serve")
    for name in SERVE_DEPENDENCIES:
        pinned = _installed(name)
        lines.append(f'Requires-Dist: {name}{"==" + pinned if pinned else ""}; extra == "serve"')
    return "\n".join(lines) + "\n"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_runtime_wheel(folder: Path) -> str:
    """Write the wheel into `folder/runtime/`; returns its path relative to `folder`."""
    import kdedge_runtime

    package = Path(kdedge_runtime.__file__).parent
    version = kdedge_runtime.__version__
    files: dict[str, bytes] = {}
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            files[f"kdedge_runtime/{path.relative_to(package).as_posix()}"] = path.read_bytes()
    info = f"kdedge_runtime-{version}.dist-info"
    files[f"{info}/METADATA"] = _metadata(version).encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: kdedge\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = b"[console_scripts]\nkdedge-runtime = kdedge_runtime.cli:main\n"
    record = [_record_line(name, data) for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    target = Path(folder) / RUNTIME_DIR
    target.mkdir(parents=True, exist_ok=True)
    relative = f"{RUNTIME_DIR}/{wheel_name(version)}"
    with zipfile.ZipFile(Path(folder) / relative, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    return relative


def install_command(relative: str) -> str:
    """What the model card tells a target to run, from inside the artifact folder."""
    return f"pip install ./{relative}"
