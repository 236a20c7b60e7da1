"""A Seldon MLServer runtime for kdedge artifacts: `KdedgeRuntime`, an `mlserver.MLModel`.

Serve an artifact with `mlserver start MODELS` where `MODELS/tweets/model-settings.json` reads

    {"name": "tweets", "implementation": "kdedge_runtime.integrations.mlserver.KdedgeRuntime",
     "parameters": {"uri": "/path/to/artifact", "extra": {"threads": 2, "batch_size": 32}}}

(`model_settings` below writes it). MLServer speaks the Open Inference Protocol: send the texts as a
BYTES input named `text`; the outputs are those of `kdedge-runtime serve`'s V2 route (`v2.py`), computed
by the same `Predictor` and `v2.result_tensors`. MLServer pins its own web stack, so install it beside
kdedge-runtime in an environment of its own (`interop/mlserver_check.py` builds one).
"""

from __future__ import annotations

import asyncio

import numpy as np
from mlserver import MLModel
from mlserver.codecs import StringCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput
from mlserver.utils import get_model_uri

from kdedge_runtime.errors import KdedgeRuntimeError
from kdedge_runtime.predictor import Predictor
from kdedge_runtime.v2 import INPUT_NAME, result_tensors


def model_settings(name: str, artifact: str, threads: int | None = None, batch_size: int = 32) -> dict:
    """The `model-settings.json` that serves `artifact` under `name` with this runtime."""
    extra = {"batch_size": batch_size, **({"threads": threads} if threads else {})}
    return {"name": name, "implementation": f"{__name__}.KdedgeRuntime",
            "parameters": {"uri": str(artifact), "extra": extra}}


class KdedgeRuntime(MLModel):
    """MLServer's model: the artifact at `parameters.uri`, `parameters.extra` giving threads and batch_size."""

    async def load(self) -> bool:
        extra = (self.settings.parameters.extra if self.settings.parameters else None) or {}
        self._batch_size = int(extra.get("batch_size", 32))
        try:
            self._predictor = Predictor(await get_model_uri(self.settings), threads=extra.get("threads"))
        except KdedgeRuntimeError as error:
            raise MLServerError(f"model {self.name}: {error}", status_code=500) from None
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        inputs = [item for item in payload.inputs if item.name == INPUT_NAME]
        if len(inputs) != 1 or len(payload.inputs) != 1:
            raise MLServerError(f'send the texts as one BYTES input named "{INPUT_NAME}"', status_code=400)
        if inputs[0].datatype != "BYTES":
            raise MLServerError(f'input "{INPUT_NAME}" has datatype {inputs[0].datatype}: texts are BYTES',
                                status_code=400)
        texts = StringCodec.decode_input(inputs[0])
        if not texts or any(not text.strip() for text in texts):
            raise MLServerError("every text must be non-empty", status_code=400)
        try:
            predictions = await asyncio.get_running_loop().run_in_executor(
                None, self._predictor.predict, texts, self._batch_size)
        except KdedgeRuntimeError as error:
            raise MLServerError(str(error), status_code=400) from None
        wanted = {output.name for output in payload.outputs or ()}
        outputs = []
        for name, (datatype, shape, values) in result_tensors(predictions, self._predictor.manifest.tasks).items():
            if wanted and name not in wanted:
                continue
            data = list(values) if datatype == "BYTES" else np.asarray(values).reshape(-1).tolist()
            outputs.append(ResponseOutput(name=name, datatype=datatype, shape=shape, data=data))
        return InferenceResponse(model_name=self.name, id=payload.id, outputs=outputs)
