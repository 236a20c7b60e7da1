"""optimum reads a tiny-Transformer artifact (run only where a separate optimum environment is given).

optimum-onnx needs transformers < 4.58, so it cannot share kdedge's environment. Set
KDEDGE_OPTIMUM_PYTHON to that environment's python (see interop/optimum_check.py) to run this test.
"""

import os
import subprocess
from pathlib import Path

import pytest
from conftest import tiny_recipe

from kdedge.pipeline.compress import compress

OPTIMUM_PYTHON = os.environ.get("KDEDGE_OPTIMUM_PYTHON")


@pytest.mark.skipif(not OPTIMUM_PYTHON, reason="set KDEDGE_OPTIMUM_PYTHON to a python with optimum-onnx installed")
def test_optimum_loads_the_transformer_artifact(tiny_teacher_dir, tiny_csv, tmp_path):
    recipe = tiny_recipe(tiny_teacher_dir, tiny_csv,
                         student={"kind": "transformer", "init": "etd-impt", "target": "3x", "max_params": None})
    compress(recipe, tmp_path / "artifact", tmp_path / "run")
    script = Path(__file__).parent.parent / "interop" / "optimum_check.py"
    result = subprocess.run([OPTIMUM_PYTHON, str(script), str(tmp_path / "artifact"), "the movie was wonderful"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"label": "positive"' in result.stdout


MLSERVER_VENV = os.environ.get("KDEDGE_MLSERVER_VENV")


@pytest.mark.skipif(not MLSERVER_VENV, reason="set KDEDGE_MLSERVER_VENV to a folder for MLServer's own environment "
                                              "(interop/mlserver_check.py creates it; pip needs the package index)")
def test_mlserver_serves_the_artifact_as_the_runtime_does(artifact):
    import sys

    script = Path(__file__).parent.parent / "interop" / "mlserver_check.py"
    result = subprocess.run([sys.executable, str(script), str(artifact), "--venv", MLSERVER_VENV],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"agree": true' in result.stdout
