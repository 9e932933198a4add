"""``compile=true``: ``torch.compile`` of the training forward, with padded lengths in a few buckets.

A compiled graph is specialized to the shapes it was traced with. The sampler's batches come in
nearly every padded length (their longest utterance), so a compiled model would recompile for
most batches until dynamo's recompile limit, and then silently run the rest in eager. Here the
padded length of each batch is rounded up to one of a few bucket sizes (quantiles of the
batches' longest utterances over an epoch, the last one the longest of all) and the batch
dimension is dynamic, so an epoch compiles at most two graphs per bucket (dynamo always
specializes a batch of one). New graphs are counted and logged; the count is in the training
metrics as ``compiled_graphs``.

Rounding up pads with zeros past every utterance's length, which changes nothing for the real
frames: masks, negatives and Gumbel noise are keyed per utterance and frame position, padded
frames are never masked, drawn as negatives, attended to or scored. Only the dropout masks are
drawn over the padded shape, so they differ from an unbucketed run's (equal in distribution).

LayerDrop: the decisions are drawn outside the graph exactly as eager draws them (the same
keyed generator) and passed in as a tensor (``Transformer.layer_keep``); a dropped layer is
computed and discarded inside the graph, so compiled LayerDrop saves no time, unlike eager.
Validation stays eager (it sees each padded length once).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger("speechssl.train")

FRAME_STRIDE = 320  # samples per frame of every wav2vec 2.0 conv stack: buckets hold whole frames
BEYOND = 16_000  # batches longer than the last bucket (should not happen) round up to whole seconds


def bucket_sizes(longest: Sequence[int], count: int, multiple: int = FRAME_STRIDE) -> tuple[int, ...]:
    """Up to ``count`` padded lengths for batches whose longest utterances are ``longest``
    (samples): evenly spaced quantiles of them, the last one their maximum, rounded up to
    ``multiple`` samples. Sorted, without repeats."""
    if count < 1:
        raise ValueError(f"compile_buckets must be at least 1, got {count}")
    if len(longest) == 0:
        raise ValueError("no batches to choose padding buckets from")
    values = np.sort(np.asarray(longest, dtype=np.int64))
    picks = values[np.ceil(np.arange(1, count + 1) / count * len(values)).astype(np.int64) - 1]
    return tuple(sorted({int(-(-int(v) // multiple) * multiple) for v in picks}))


def bucket_for(length: int, buckets: Sequence[int]) -> int:
    """The smallest bucket holding ``length`` samples (past the last: whole seconds)."""
    i = bisect.bisect_left(buckets, length)
    return buckets[i] if i < len(buckets) else -(-length // BEYOND) * BEYOND


def _raise_recompile_limit(limit: int) -> None:
    """Dynamo falls back to eager for good after its per-function recompile limit (8 by
    default); two graphs per bucket may need more. The setting was renamed in torch 2.7."""
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(getattr(config, name), limit))


def compiled_graphs() -> int:
    """Graphs dynamo has compiled in this process so far."""
    return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])


class TrainingCompiler:
    """Compiles the training forward of a model and prepares each micro-batch for it.

    Args:
        buckets: padded lengths (samples) the batches are rounded up to.
        backend, mode: as for ``torch.compile``.
    """

    def __init__(self, buckets: Sequence[int], backend: str = "inductor", mode: str | None = None):
        self.buckets = tuple(sorted(buckets))
        self.backend, self.mode = backend, mode
        self.graphs = 0  # graphs compiled for training so far
        self._compiled: dict[int, nn.Module] = {}
        _raise_recompile_limit(4 * len(self.buckets) + 8)

    def module(self, model: nn.Module) -> nn.Module:
        """The compiled twin of ``model`` (shares its parameters; its state_dict is unchanged)."""
        key = id(model)
        if key not in self._compiled:
            self._compiled = {key: torch.compile(model, backend=self.backend, mode=self.mode)}
        return self._compiled[key]

    def pad(self, batch: dict) -> dict:
        """``batch["audio"]`` ``(B, S)`` zero-padded to ``(B, bucket)``; lengths unchanged."""
        audio = batch["audio"]
        target = bucket_for(audio.shape[1], self.buckets)
        if target > audio.shape[1]:
            batch = {**batch, "audio": F.pad(audio, (0, target - audio.shape[1]))}
        return batch

    def prepare(self, model: nn.Module, batch: dict, keys: torch.Tensor) -> tuple[nn.Module, dict]:
        """-> (compiled model, padded batch) for one training forward. Marks the batch dimension
        dynamic and the padded length static, and hands the LayerDrop decisions to the graph."""
        batch = self.pad(batch)
        for tensor in (batch["audio"], batch["audio_lens"], keys):
            torch._dynamo.maybe_mark_dynamic(tensor, 0)
        torch._dynamo.mark_static(batch["audio"], 1)
        inner = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
        transformer = getattr(getattr(inner, "encoder", None), "transformer", None)
        if transformer is not None and transformer.training and transformer.cfg.layerdrop > 0:
            keep = torch.tensor(transformer.layers_to_run())  # the draws eager would make
            transformer.layer_keep = keep.to(batch["audio"].device, non_blocking=True)
        return self.module(model), batch

    def run(self, loss_fn, model: nn.Module, batch: dict, num_updates: int, keys: torch.Tensor):
        """``loss_fn(compiled model, padded batch, num_updates, keys)`` (a task's ``loss``); new
        graphs are counted and logged."""
        model, batch = self.prepare(model, batch, keys)
        before = compiled_graphs()
        result = loss_fn(model, batch, num_updates, keys)
        new = compiled_graphs() - before
        if new > 0:
            self.graphs += new
            log.info("compiled %d graph(s) for a batch of shape %s (%d so far)", new, tuple(batch["audio"].shape), self.graphs)
        return result


def training_compiler(cfg, sampler) -> TrainingCompiler:
    """The compiler of a run (``cfg`` a RunConfig): buckets from the padded lengths of the
    training sampler's epoch-0 batches (capped lengths: later epochs fit the same buckets)."""
    longest = [int(sampler.sizes[batch].max()) for batch in sampler.global_batches(0)]
    buckets = bucket_sizes(longest, cfg.compile_buckets)
    log.info("compile: training batches padded to %d lengths (s): %s", len(buckets), ", ".join(f"{b / 16_000:.2f}" for b in buckets))
    return TrainingCompiler(buckets, backend=cfg.compile_backend)
