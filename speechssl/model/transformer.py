"""Context network: convolutional positional embedding + transformer layers (SDPA attention)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from speechssl.config import TransformerConfig
from speechssl.model.dropout import Dropout, keep_mask


def init_bert_linear(linear: nn.Linear) -> None:
    """fairseq init_bert_params for the transformer's Linears: N(0, 0.02), zero bias."""
    nn.init.normal_(linear.weight, mean=0.0, std=0.02)
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)


class PositionalConv(nn.Module):
    """Grouped conv over time with weight norm (dim=2), SamePad and GELU (fairseq make_conv_pos).

    The weight-norm factors are plain parameters named as in fairseq (``weight_g``, ``weight_v``)
    so the module compiles without parametrization hooks and converters map names 1:1.
    """

    def __init__(self, dim: int, kernel: int, groups: int):
        super().__init__()
        self.kernel, self.groups = kernel, groups
        weight = torch.empty(dim, dim // groups, kernel)
        nn.init.normal_(weight, mean=0.0, std=math.sqrt(4.0 / (kernel * dim)))
        self.weight_v = nn.Parameter(weight)
        self.weight_g = nn.Parameter(weight.norm(dim=(0, 1), keepdim=True))  # (1, 1, kernel)
        self.bias = nn.Parameter(torch.zeros(dim))

    def weight(self) -> torch.Tensor:
        return self.weight_v * (self.weight_g / self.weight_v.norm(dim=(0, 1), keepdim=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: ``(B, T, E)`` with padded frames zeroed -> ``(B, T, E)``."""
        y = F.conv1d(x.transpose(1, 2), self.weight(), self.bias, padding=self.kernel // 2, groups=self.groups)
        if self.kernel % 2 == 0:
            y = y[:, :, :-1]  # an even kernel with padding k/2 yields T+1 frames (SamePad)
        return F.gelu(y).transpose(1, 2)  # (B, E, T) -> (B, T, E)


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused QKV projection and SDPA."""

    def __init__(self, dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads, self.dropout = num_heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out_proj = nn.Linear(dim, dim)
        # Initialize q, k, v as three separate Linears would be (fairseq init_bert_params).
        for linear in (self.qkv, self.out_proj):
            init_bert_linear(linear)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        """x: ``(B, T, E)``; attn_mask: ``(B, 1, 1, T)`` bool, True where a key may be attended."""
        B, T, E = x.shape
        H = self.num_heads
        q, k, v = self.qkv(x).view(B, T, 3, H, E // H).permute(2, 0, 3, 1, 4)  # each (B, H, T, E/H)
        if self.training and self.dropout > 0.0 and x.device.type == "cpu":
            # SDPA with dropout on the CPU materializes the probabilities anyway (its math path)
            # and draws the mask with bernoulli_. The same math with the cheaper mask, as 3-D
            # bmm (no copies of the T x T matrices) and with both scalings moved onto the
            # T x E/H operands, takes two fewer passes over the T x T tensors each way.
            q, k, v = (t.reshape(B * H, T, E // H) for t in (q, k, v))
            scores = torch.bmm(q * (E // H) ** -0.5, k.transpose(1, 2))  # (B*H, T, T)
            if attn_mask is not None:
                scores.view(B, H, T, T).masked_fill_(~attn_mask, float("-inf"))  # bmm's backward does not need it
            keep, keep_rate = keep_mask(scores.shape, self.dropout, x.device)
            y = torch.bmm(torch.where(keep, scores.softmax(-1), 0.0), v) * (1.0 / keep_rate)
            y = y.view(B, H, T, E // H)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, E))  # (B, H, T, E/H) -> (B, T, E)


class TransformerLayer(nn.Module):
    """One encoder layer; post-LN (BASE) or pre-LN (LARGE) as configured."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.layer_norm_first = cfg.layer_norm_first
        self.attention = SelfAttention(cfg.embed_dim, cfg.num_heads, cfg.attention_dropout)
        self.attention_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.fc1 = nn.Linear(cfg.embed_dim, cfg.ffn_dim)
        self.fc2 = nn.Linear(cfg.ffn_dim, cfg.embed_dim)
        self.final_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.dropout = Dropout(cfg.dropout)
        self.activation_dropout = Dropout(cfg.activation_dropout)
        for linear in (self.fc1, self.fc2):
            init_bert_linear(linear)

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.activation_dropout(F.gelu(self.fc1(x)))))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        """x: ``(B, T, E)`` -> ``(B, T, E)``."""
        if self.layer_norm_first:
            x = x + self.dropout(self.attention(self.attention_norm(x), attn_mask))
            return x + self.feed_forward(self.final_norm(x))
        x = self.attention_norm(x + self.dropout(self.attention(x, attn_mask)))
        return self.final_norm(x + self.feed_forward(x))


class Transformer(nn.Module):
    """Positional conv, LayerNorm (before the layers for post-LN, after them for pre-LN), layers.

    LayerDrop decisions are drawn on the CPU (``layerdrop_generator`` when set, else the global
    CPU RNG): no device sync, and a trainer can key them by update and micro-batch. A skipped
    layer still joins the graph with a zero term so every parameter receives a (zero)
    gradient, as DDP without ``find_unused_parameters`` requires, whatever other ranks skip.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.pos_conv = PositionalConv(cfg.embed_dim, cfg.pos_conv_kernel, cfg.pos_conv_groups)
        self.layer_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.dropout = Dropout(cfg.dropout)
        self.layers = nn.ModuleList(TransformerLayer(cfg) for _ in range(cfg.num_layers))
        self.layerdrop_generator: torch.Generator | None = None
        # In a compiled graph the LayerDrop decisions are an input: ``(num_layers,)`` bool, drawn
        # by speechssl.train.compile with layers_to_run() before each call (branching on them
        # would compile one graph per pattern). A dropped layer is then computed and discarded.
        self.layer_keep: torch.Tensor | None = None

    def layers_to_run(self) -> list[bool]:
        if not self.training or self.cfg.layerdrop == 0.0:
            return [True] * len(self.layers)
        draws = torch.rand(len(self.layers), generator=self.layerdrop_generator)
        return (draws >= self.cfg.layerdrop).tolist()

    def forward(
        self, x: torch.Tensor, padding_mask: torch.Tensor | None, output_hidden_states: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """
        Args:
            x: ``(batch, frames, embed_dim)`` projected (and possibly masked) features.
            padding_mask: ``(batch, frames)`` bool, True on padded frames, or None.
            output_hidden_states: also return the input of the first layer and each layer's
                raw output (``num_layers + 1`` tensors, before any final LayerNorm).

        Returns:
            the final output ``(batch, frames, embed_dim)`` and the hidden-state list.
        """
        attn_mask = None
        # On the CPU an unpadded batch is known for free (no device sync) and skips the masking
        # (not in a compiled graph: it cannot branch on data).
        cpu_check = padding_mask is not None and padding_mask.device.type == "cpu" and not torch.compiler.is_compiling()
        if padding_mask is not None and (not cpu_check or bool(padding_mask.any())):
            x = x.masked_fill(padding_mask[..., None], 0.0)  # padded frames must not leak into pos_conv
            attn_mask = ~padding_mask[:, None, None, :]  # (B, 1, 1, T): keys that may be attended
        x = x + self.pos_conv(x)
        if not self.cfg.layer_norm_first:
            x = self.layer_norm(x)
        x = self.dropout(x)
        hidden_states = [x] if output_hidden_states else []
        keep = self.layer_keep if torch.compiler.is_compiling() and self.training and self.cfg.layerdrop > 0 else None
        runs = self.layers_to_run() if keep is None else [True] * len(self.layers)
        for i, (layer, run) in enumerate(zip(self.layers, runs)):
            if keep is not None:
                x = torch.where(keep[i], layer(x, attn_mask), x)  # a dropped layer gets zero gradients
            elif run:
                x = layer(x, attn_mask)
            else:
                x = x + 0.0 * sum(p.sum() for p in layer.parameters())
            if output_hidden_states:
                hidden_states.append(x)
        if self.cfg.layer_norm_first:
            x = self.layer_norm(x)
        return x, hidden_states
