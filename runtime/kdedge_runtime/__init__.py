"""Serve kdedge artifacts with onnxruntime, numpy and tokenizers only.

This package never imports torch or transformers, so a service that embeds it stays small.
"""

from kdedge_runtime.encoding import TextEncoder
from kdedge_runtime.manifest import SCHEMA_VERSION, ArtifactError, Manifest, TaskOutput, read_manifest
from kdedge_runtime.predictor import Entity, Prediction, Predictor, as_json

__all__ = [
    "SCHEMA_VERSION",
    "ArtifactError",
    "Entity",
    "Manifest",
    "Prediction",
    "Predictor",
    "TextEncoder",
    "as_json",
    "TaskOutput",
    "read_manifest",
]
__version__ = "0.1.0"
