"""Where distillation runs: one CPU, one GPU, or several processes (GPUs, nodes) under
`accelerate launch`, through Hugging Face accelerate: device placement, mixed precision, and
DistributedDataParallel with gradients averaged across processes.

The same `kdedge compress` command runs unchanged in every case. Under several processes, the main
process prepares the teacher and its cache first and the others then reuse them from the run
directory; every process trains on its own share of each epoch's batches; the main process alone
evaluates on dev (its decisions are broadcast), keeps stage checkpoints and writes the artifact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

from kdedge.errors import ConfigError

T = TypeVar("T")


def resolve_mixed_precision(setting: str, device: torch.device) -> str:
    """`auto`: bf16 on a GPU that has it, else fp16 on a GPU, and full precision on a CPU. A forced
    `bf16` on a CPU needs one that oneDNN runs bf16 on (AVX-512 BF16 or AMX): elsewhere its LSTM and
    matmul kernels fail mid-training, so the run is refused before it starts."""
    if setting == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        raise ConfigError("distill.mixed_precision=bf16 needs a CPU with bf16 support (AVX-512 BF16 or AMX), "
                          "and this one has none", hint="use distill.mixed_precision=no (or auto) on this machine")
    if setting != "auto":
        return setting
    if device.type != "cuda":
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 kernels on this CPU."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


@dataclass
class Scale:
    """One process's view of the run: its device, rank and the accelerator that wraps training."""

    accelerator: object  # accelerate.Accelerator

    @classmethod
    def create(cls, mixed_precision: str = "auto") -> Scale:
        from accelerate import Accelerator
        from accelerate.state import PartialState
        from accelerate.utils import DistributedDataParallelKwargs, parse_flag_from_env

        # the process state as accelerate launch (or torchrun) set it up, CPU-only runs included
        device = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU")).device
        precision = resolve_mixed_precision(mixed_precision, device)
        # each step trains one task's head: the other heads are unused in that step
        handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)]
        return cls(Accelerator(mixed_precision=precision, kwargs_handlers=handlers))

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    @property
    def processes(self) -> int:
        return self.accelerator.num_processes

    @property
    def index(self) -> int:
        return self.accelerator.process_index

    @property
    def mixed_precision(self) -> str:
        return self.accelerator.mixed_precision

    def describe(self) -> str:
        where = f"{self.processes} processes" if self.processes > 1 else "1 process"
        return f"{where} on {self.device.type}, mixed precision {self.mixed_precision}"

    def wait(self) -> None:
        self.accelerator.wait_for_everyone()

    def main_first(self, work: Callable[[], T]) -> T:
        """Run `work` on the main process, then on the others (which find its results on disk)."""
        result = work() if self.is_main else None
        self.wait()
        if not self.is_main:
            result = work()
        self.wait()
        return result

    def share(self, batches: list) -> list:
        """This process's batches of an epoch: every process gets the same number (wrapping around),
        so that all of them take the same number of steps."""
        if self.processes == 1 or not batches:
            return batches
        per_process = -(-len(batches) // self.processes)
        return [batches[(self.index + k * self.processes) % len(batches)] for k in range(per_process)]

    def broadcast(self, value: T) -> T:
        """The main process's `value`, on every process."""
        if self.processes == 1:
            return value
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([value])[0]
