"""The coordinates every direction and map lives in: a diagonal standardizer per embedding space.

Middle layers of small LLMs carry "massive activation" channels whose spread is hundreds of times
that of the rest; raw dot products there measure one channel. Z-scoring each dimension with benign
statistics puts every channel on the same footing (see the project's DESIGN notes).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Standardizer:
    """z(x) = (x - mean) / std, per dimension. Both tensors are float32 [D]."""

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, samples: torch.Tensor) -> "Standardizer":
        """Estimate from samples [N, D]; std is floored so constant channels never divide by zero."""
        if samples.ndim != 2 or samples.shape[0] < 2:
            raise ValueError(f"need at least 2 samples [N, D] to standardize, got shape {tuple(samples.shape)}")
        x = samples.detach().to(torch.float32)
        std = x.std(dim=0)
        floor = torch.clamp(std.median() * 1e-3, min=1e-8)
        return cls(mean=x.mean(dim=0), std=torch.clamp(std, min=floor))

    @property
    def width(self) -> int:
        return int(self.mean.shape[0])

    def z(self, x: torch.Tensor) -> torch.Tensor:
        return (x.to(torch.float32) - self.mean.to(x.device)) / self.std.to(x.device)

    def raw_displacement(self, direction: torch.Tensor) -> torch.Tensor:
        """The raw-coordinate step that raises z(x) @ direction by |direction|^2."""
        return direction.to(torch.float32) * self.std.to(direction.device)

    def reexpress(self, direction: torch.Tensor, new: "Standardizer") -> torch.Tensor:
        """The same raw displacement written as a unit direction in `new`'s z-coordinates."""
        moved = self.raw_displacement(direction) / new.std.to(direction.device)
        return moved / moved.norm().clamp_min(1e-12)

    def reexpress_covector(self, covector: torch.Tensor, new: "Standardizer") -> torch.Tensor:
        """The same scoring rule (score = z(x) @ covector, up to a constant) in `new`'s z-coordinates, as a
        unit vector: a covector scales by new.std / std where a displacement scales by std / new.std."""
        moved = covector.to(torch.float32) * new.std.to(covector.device) / self.std.to(covector.device)
        return moved / moved.norm().clamp_min(1e-12)
