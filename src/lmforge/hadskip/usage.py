"""Layer-usage statistics measured from hard decisions (what inference really executes)."""

from __future__ import annotations

import torch


class UsageStats:
    """Accumulates per-layer keep counts and the distribution of executed layers per example.

    Memory is constant (L counters plus an (L+1)-bin histogram), so it can run over any dev set.
    """

    def __init__(self, num_layers: int) -> None:
        self.num_layers = num_layers
        self.reset()

    def reset(self) -> None:
        self.layer_keeps = torch.zeros(self.num_layers, dtype=torch.float64)
        self.executed_histogram = torch.zeros(self.num_layers + 1, dtype=torch.long)

    @property
    def examples(self) -> int:
        return int(self.executed_histogram.sum())

    def update(self, keep: torch.Tensor) -> None:
        """Add a (B, L) boolean matrix of executed layers."""
        keep = keep.detach().to("cpu", torch.long)
        self.layer_keeps += keep.sum(dim=0).double()
        self.executed_histogram += torch.bincount(keep.sum(dim=1), minlength=self.num_layers + 1)

    def merge_(self, layer_keeps: torch.Tensor, executed_histogram: torch.Tensor) -> None:
        """Replace the counters (e.g. with their sum over processes)."""
        self.layer_keeps = layer_keeps.detach().to("cpu", torch.float64)
        self.executed_histogram = executed_histogram.detach().to("cpu", torch.long)

    @property
    def usage(self) -> float:
        """r = mean fraction of layers executed per example (NaN before any example)."""
        n = self.examples
        return float(self.layer_keeps.sum()) / (n * self.num_layers) if n else float("nan")

    @property
    def layer_keep_rates(self) -> list[float]:
        n = self.examples
        return [float(k) / n if n else float("nan") for k in self.layer_keeps]

    def to_dict(self) -> dict[str, float | int | list[float] | list[int]]:
        """JSON-ready summary: usage, speed-up 1/r, per-layer keep rates and the executed-layer histogram."""
        usage = self.usage
        return {
            "examples": self.examples,
            "usage": usage,
            "speedup": 1.0 / usage if usage > 0 else float("inf"),
            "layer_keep_rates": self.layer_keep_rates,
            "executed_layers_histogram": self.executed_histogram.tolist(),
        }
