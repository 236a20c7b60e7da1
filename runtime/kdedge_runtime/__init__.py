"""Serve kdedge artifacts with onnxruntime, numpy and tokenizers only.

This package never imports torch or transformers, so a service that embeds it stays small.
"""

from kdedge_runtime.encoding import TextEncoder
from kdedge_runtime.errors import ArtifactError, InputError, KdedgeRuntimeError
from kdedge_runtime.manifest import SCHEMA_VERSION, Manifest, TaskOutput, read_manifest
from kdedge_runtime.predictor import Predictor
from kdedge_runtime.results import Entity, Prediction, as_json

__all__ = [
    "SCHEMA_VERSION",
    "ArtifactError",
    "Entity",
    "InputError",
    "KdedgeRuntimeError",
    "Manifest",
    "Prediction",
    "Predictor",
    "TextEncoder",
    "as_json",
    "TaskOutput",
    "read_manifest",
]
__version__ = "0.2.0"
