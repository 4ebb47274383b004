"""The per-layer skip gate: an input-dependent keep probability and its soft and hard forms.

A gate reads the layer input at sequence level ([summary token ; masked mean over real tokens]) and
makes one decision per example. The mean matters: at layer 1 the [CLS] embedding is identical for
every input, so a gate fed only [CLS] could not depend on the input there.
"""

from __future__ import annotations

import torch
from torch import nn


def summary_features(hidden: torch.Tensor, token_mask: torch.Tensor, summary_index: torch.Tensor) -> torch.Tensor:
    """[h[summary_index] ; masked mean of h] per row, in fp32: shape (B, 2·d).

    ``token_mask`` is (B, T) with 1 for real tokens; ``summary_index`` (B,) picks the summary token
    ([CLS] for encoders, the last real token for decoders).
    """
    hidden = hidden.float()
    mask = token_mask.to(hidden.dtype).unsqueeze(-1)
    mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return torch.cat([hidden[rows, summary_index], mean], dim=-1)


def keep_probability(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Soft gate p = σ(a/τ); as τ → 0 it approaches the step function used at inference."""
    return torch.sigmoid(logits / temperature)


def straight_through(probs: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Hard 0/1 decision in the forward pass with the gradient of ``probs`` (straight-through)."""
    hard = (probs >= threshold).to(probs.dtype)
    return hard + probs - probs.detach()


def rms_normalise(features: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Scale the summary token and the mean (the two halves of ``features``) to unit RMS each.

    Residual streams differ by orders of magnitude between backbones and layers (post-LN BERT ≈ 1,
    SmolLM2's pre-LN stream 20–50): without this the gate's tanh saturates and its W1 cannot learn.
    """
    halves = features.unflatten(-1, (2, -1))
    halves = halves * torch.rsqrt(halves.pow(2).mean(dim=-1, keepdim=True) + eps)
    return halves.flatten(-2)


class LayerGate(nn.Module):
    """a = w2·tanh(W1·norm([c; u]) + b1) + β: the keep logit of one layer, always computed in fp32.

    fp32 matters because the temperature-scaled sigmoid saturates quickly under bf16/fp16 autocast.
    ``normalise`` applies the parameter-free :func:`rms_normalise` to the input features.
    """

    def __init__(self, hidden_size: int, gate_hidden: int = 128, normalise: bool = True) -> None:
        super().__init__()
        self.normalise = normalise
        self.fc1 = nn.Linear(2 * hidden_size, gate_hidden)
        self.fc2 = nn.Linear(gate_hidden, 1)
        self.reset_parameters(keep_prob=0.99)

    def reset_parameters(self, keep_prob: float) -> None:
        """Start almost input-independent with keep probability ``keep_prob`` (at τ = 1).

        W1 ~ N(0, 0.02) and w2 = 0 so the gate begins at its bias and learns input dependence.
        """
        with torch.no_grad():
            nn.init.normal_(self.fc1.weight, std=0.02)
            nn.init.zeros_(self.fc1.bias)
            nn.init.zeros_(self.fc2.weight)
            self.fc2.bias.fill_(torch.logit(torch.tensor(keep_prob, dtype=torch.float64)).item())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Keep logits (B,) from :func:`summary_features` output (B, 2·d)."""
        device_type = features.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            w1, b1 = self.fc1.weight.float(), self.fc1.bias.float()
            w2, b2 = self.fc2.weight.float(), self.fc2.bias.float()
            features = rms_normalise(features.float()) if self.normalise else features.float()
            z = torch.tanh(nn.functional.linear(features, w1, b1))
            return nn.functional.linear(z, w2, b2).squeeze(-1)
