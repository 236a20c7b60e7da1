"""kdedge: distil BERT-family teachers into small BiLSTM or Transformer students for edge serving."""

from kdedge import bench  # the stage package, callable: kdedge.bench(...) is bench.runner.bench
from kdedge.api import compress
from kdedge.errors import ConfigError, DataError, ExportValidationError, KdedgeError, TeacherError
from kdedge.recipe import Recipe, load_recipe

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "ExportValidationError",
    "KdedgeError",
    "Recipe",
    "TeacherError",
    "bench",
    "compress",
    "load_recipe",
]
