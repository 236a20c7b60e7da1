"""Stage 4, distillation: the staged training loop (`loop`), one module per loss (`losses/`), where it
runs (`scale`: one CPU, a GPU or several processes through accelerate) and the distillation stages kept
in the run directory so a run resumes after the last finished one (`kept_stages`).

Its configuration is `config.DistillConfig`. Reads the data, teacher and student stages.
"""
