"""What a `compress` run hands back (single- and multi-task alike)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kdedge.export.model_card import metrics_markdown, variants_markdown


@dataclass
class CompressResult:
    artifact_dir: Path
    manifest: dict  # the artifact's kdedge.json
    latency_ms: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Test metrics by model: teacher, student (PyTorch), student_onnx (shipped), student_onnx_<variant>."""
        return self.manifest.get("metrics", {})

    @property
    def variant(self) -> str:
        """The shipped variant (fp32, int8-static, ...)."""
        return self.manifest.get("variant", "fp32")

    def table(self) -> str:
        """The run's test metrics and variants as Markdown (the same tables as the artifact's model card)."""
        return "\n".join([*metrics_markdown(self.manifest), "", *variants_markdown(self.manifest)]) + "\n"
