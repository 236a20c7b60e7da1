"""`python -m kdedge` (and `accelerate launch -m kdedge compress ...` / `torchrun -m kdedge compress ...`)."""

from kdedge.cli import app

app()
