"""Gumbel product quantizer (fairseq GumbelVectorQuantizer, combine_groups=False)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from speechssl.model.keyed_noise import GUMBEL_STREAM, uniform


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # (B, T, dim): concatenation of the chosen entry of each group
    codes: torch.Tensor  # (B, T, G) long: the chosen entry per group
    code_perplexity: torch.Tensor  # sum over groups of exp(entropy of hard code usage); (M,) for M masks
    prob_perplexity: torch.Tensor  # the same for the mean softmax (drives the diversity loss)


def perplexity(probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``sum_g exp(H(mean over masked frames of probs[..., g, :]))``.

    Args:
        probs: ``(B, T, G, V)`` distributions per frame and group.
        mask: ``(B, T)`` bool, the frames that count, or ``(M, B, T)`` for M masks at once
            (multi-mask pretraining): then one perplexity per mask, ``(M,)``.
    """
    weights = mask.to(probs.dtype).reshape(-1, *probs.shape[:2])  # (M, B, T)
    mean = torch.einsum("mbt,btgv->mgv", weights, probs) / weights.sum((1, 2)).clamp(min=1.0)[:, None, None]
    per_mask = torch.exp(-(mean * torch.log(mean + 1e-7)).sum(-1)).sum(-1)  # (M,)
    return per_mask if mask.dim() == 3 else per_mask[0]


class GumbelQuantizer(nn.Module):
    """Maps each frame to one of V learned entries in each of G groups.

    Training draws a straight-through hard Gumbel-softmax sample at the given temperature
    (one-hot forward, soft gradient); eval takes the argmax. Both run in fp32.
    """

    def __init__(self, input_dim: int, num_groups: int, num_vars: int, dim: int):
        super().__init__()
        self.num_groups, self.num_vars = num_groups, num_vars
        self.weight_proj = nn.Linear(input_dim, num_groups * num_vars)
        nn.init.normal_(self.weight_proj.weight, mean=0.0, std=1.0)  # std 1, not 0.02 (fairseq)
        nn.init.zeros_(self.weight_proj.bias)
        self.codevectors = nn.Parameter(torch.rand(1, num_groups * num_vars, dim // num_groups))

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        temperature: float | torch.Tensor,
        row_keys: torch.Tensor | None = None,
    ) -> QuantizerOutput:
        """
        Args:
            x: ``(batch, frames, input_dim)`` features to quantize.
            mask: ``(batch, frames)`` bool, the frames whose statistics count (the masked ones);
                ``(M, batch, frames)`` gives ``(M,)`` perplexities, one per mask.
            temperature: Gumbel-softmax temperature (training only).
            row_keys: ``(batch,)`` utterance keys for the Gumbel noise; global RNG when None.
        """
        B, T, _ = x.shape
        G, V = self.num_groups, self.num_vars
        logits = self.weight_proj(x).float().view(B, T, G, V)
        if self.training:
            one_hot = straight_through_gumbel(logits, temperature, row_keys)  # (B, T, G, V)
        else:
            one_hot = F.one_hot(logits.argmax(-1), V).to(logits.dtype)
        codes = one_hot.argmax(-1)  # (B, T, G)
        with torch.no_grad():
            code_ppl = perplexity(one_hot, mask)
        prob_ppl = perplexity(torch.softmax(logits, dim=-1), mask)
        entries = self.codevectors.view(G, V, -1).to(x.dtype)  # (1, G*V, d) -> (G, V, d)
        quantized = torch.einsum("btgv,gvd->btgd", one_hot.to(x.dtype), entries).reshape(B, T, -1)
        return QuantizerOutput(quantized, codes, code_ppl, prob_ppl)


def straight_through_gumbel(logits: torch.Tensor, temperature: float | torch.Tensor, row_keys: torch.Tensor | None) -> torch.Tensor:
    """Hard one-hot sample of ``softmax((logits + Gumbel noise) / tau)`` whose gradient is the
    soft sample's (``F.gumbel_softmax(hard=True)``), with noise that may be keyed per utterance."""
    u = uniform(tuple(logits.shape), device=logits.device, row_keys=row_keys, stream=GUMBEL_STREAM)
    exponential = -torch.log(u.clamp(min=1e-10))  # u in [0, 1): Exp(1) noise, finite
    gumbel = -torch.log(exponential.clamp(min=1e-10))
    soft = torch.softmax((logits + gumbel) / temperature, dim=-1)
    hard = F.one_hot(soft.argmax(-1), logits.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft
