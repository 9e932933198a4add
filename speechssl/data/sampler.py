"""Batches under a budget of audio samples, grouped by length, DDP-aware and resumable.

Each epoch, utterances are sorted by (capped) length with a random tie-break and cut greedily
into batches whose padded size ``len(batch) * longest`` stays within ``max_tokens`` samples
(fairseq's ``max_tokens``), so utterances of similar length share a batch and padding stays
small. The batch order is shuffled per epoch. Every rank computes the same global list from
the same seed and takes every ``world_size``-th batch; when the count does not divide, the
largest batches are split in two until it does, so ranks are disjoint, cover everything and
run the same number of steps. The state is (epoch, batches consumed): resume regenerates
the epoch and skips what was consumed.

``sorted_epochs`` keeps the first epochs' batches in order of length, shortest first (Deep Speech
2's SortaGrad): a CTC model still on the all-blank plateau learns alignments most easily from
short utterances, whose few frames leave little room for where each token sits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np

log = logging.getLogger(__name__)


class LengthBucketSampler:
    """Yields ``(epoch, [utterance indices])`` for this rank.

    Args:
        sizes: samples per utterance.
        max_tokens: budget of padded samples per batch (per rank).
        max_sample_size: longer utterances are cropped to this (counted at this size).
        min_sample_size: shorter utterances are skipped.
        max_batch_size: optional cap on utterances per batch.
        sorted_epochs: epochs (from 0) whose batches run shortest first instead of shuffled.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        max_tokens: int,
        *,
        max_sample_size: int | None = None,
        min_sample_size: int = 0,
        max_batch_size: int | None = None,
        shuffle: bool = True,
        sorted_epochs: int = 0,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        sizes = np.asarray(sizes, dtype=np.int64)
        capped = np.minimum(sizes, max_sample_size) if max_sample_size else sizes
        keep = (sizes >= min_sample_size) & (capped <= max_tokens)
        self.skipped = np.flatnonzero(~keep).tolist()
        if self.skipped:
            log.warning(
                "sampler skips %d utterances shorter than %d samples or longer than the %d-sample budget",
                len(self.skipped), min_sample_size, max_tokens,
            )
        self.indices = np.flatnonzero(keep)
        self.sizes = capped
        self.max_tokens, self.max_batch_size = max_tokens, max_batch_size
        self.shuffle, self.sorted_epochs, self.seed = shuffle, sorted_epochs, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.batches_done = 0, 0
        if len(self.indices) < world_size:
            raise ValueError(f"{len(self.indices)} usable utterances cannot feed {world_size} ranks")

    # ---- the batches of an epoch

    def global_batches(self, epoch: int) -> list[list[int]]:
        """The batches of all ranks for ``epoch`` (the same on every rank)."""
        rng = np.random.default_rng([self.seed, epoch])
        tiebreak = rng.random(len(self.indices)) if self.shuffle else np.arange(len(self.indices))
        order = self.indices[np.lexsort((tiebreak, self.sizes[self.indices]))]  # by size, then tiebreak
        batches, current, longest = [], [], 0
        for index in order.tolist():
            size = int(self.sizes[index])
            full = self.max_batch_size is not None and len(current) >= self.max_batch_size
            if current and (full or (len(current) + 1) * max(longest, size) > self.max_tokens):
                batches.append(current)
                current, longest = [], 0
            current.append(index)
            longest = max(longest, size)
        if current:
            batches.append(current)
        batches = self._divisible(batches)
        if self.shuffle and epoch >= self.sorted_epochs:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def _divisible(self, batches: list[list[int]]) -> list[list[int]]:
        """Split the largest batches until every rank gets the same number."""
        while len(batches) % self.world_size:
            largest = max(range(len(batches)), key=lambda i: len(batches[i]))
            batch = batches[largest]
            if len(batch) < 2:
                # Only single-utterance batches remain: drop the remainder rather than duplicate.
                extra = len(batches) % self.world_size
                log.warning("dropping %d single-utterance batches so ranks stay equal", extra)
                return batches[: len(batches) - extra]
            half = len(batch) // 2
            batches[largest : largest + 1] = [batch[:half], batch[half:]]
        return batches

    def rank_batches(self, epoch: int) -> list[list[int]]:
        return self.global_batches(epoch)[self.rank :: self.world_size]

    def __len__(self) -> int:
        return len(self.rank_batches(self.epoch))

    def __iter__(self) -> Iterator[tuple[int, list[int]]]:
        # Resolved now, not lazily: the position is the one at the time iteration starts.
        epoch = self.epoch
        return iter([(epoch, batch) for batch in self.rank_batches(epoch)[self.batches_done :]])

    # ---- position and resume

    def set_epoch(self, epoch: int, batches_done: int = 0) -> None:
        self.epoch, self.batches_done = epoch, batches_done

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batches_done": self.batches_done, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state.get("seed", self.seed) != self.seed:
            raise ValueError(f"sampler seed {state['seed']} in the checkpoint differs from {self.seed}")
        self.set_epoch(state["epoch"], state["batches_done"])


def padded_fraction(batches: Sequence[Sequence[int]], sizes: Sequence[int]) -> float:
    """Share of the padded batch area that is padding."""
    sizes = np.asarray(sizes)
    real = sum(int(sizes[b].sum()) for b in batches)
    area = sum(len(b) * int(sizes[b].max()) for b in batches)
    return 1.0 - real / area if area else 0.0
