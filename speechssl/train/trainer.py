"""The training loop shared by pretraining and fine-tuning.

What differs per task (model, batch -> loss, metrics) lives in a :class:`Task`; everything
else is here: resume, micro-batches with DDP ``no_sync``, autocast, loss normalized by the
global sample size, clipping, non-finite skipping, logging, validation and checkpoints.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from speechssl.audio import SAMPLE_RATE
from speechssl.data.dataset import AudioDataset
from speechssl.data.manifest import Manifest
from speechssl.data.sampler import LengthBucketSampler
from speechssl.model.feature_encoder import FeatureEncoder
from speechssl.model.keyed_noise import combine_keys
from speechssl.runtime import keep_large_allocations_in_heap
from speechssl.train import checkpoint
from speechssl.train.compile import training_compiler
from speechssl.train.config import RunConfig
from speechssl.train.distributed import DistributedEnv, all_reduce_sum, init_distributed, shutdown
from speechssl.train.metrics import MetricLogger
from speechssl.train.schedules import lr_multiplier

log = logging.getLogger("speechssl.train")

VALIDATION_STEP = -1  # key component of validation noise: the same masks at every validation


class Task(Protocol):
    """What a training objective provides to the :class:`Trainer`."""

    def build_model(self, cfg: RunConfig) -> nn.Module: ...

    def loss(
        self, model: nn.Module, batch: dict, num_updates: int, keys: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """-> (summed loss, sample size, additive statistics), all tensors on the device."""

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        """Reduced sums of the statistics -> the metrics to log."""

    def check_health(self, metrics: dict[str, float], step: int) -> list[str]:
        """Warnings about a run going wrong (collapse and the like)."""


def selection_key(metrics: dict[str, float], names: str | tuple[str, ...]) -> tuple[float, ...]:
    """What the best checkpoint is chosen by (lower is better): the task's ``best_metric``, one
    name or several, where each later one breaks ties of the earlier ones (WER is flat at 100
    early in CTC fine-tuning; CER and loss still tell the checkpoints apart)."""
    names = (names,) if isinstance(names, str) else tuple(names)
    return tuple(metrics.get(name, math.inf) for name in names)


def parameter_groups(model: nn.Module, optim) -> list[dict[str, Any]]:
    """AdamW's parameter groups: everything at the peak lr, and the conv feature encoder's
    parameters at ``optim.feature_encoder_lr_scale`` times it when that is not 1. The schedule
    multiplies each group's own lr, so the ratio holds through warmup and decay; the main group
    comes first, so the lr logged is the peak's."""
    params = list(model.parameters())
    if optim.feature_encoder_lr_scale == 1.0:
        return [{"params": params}]
    conv_ids = {id(p) for m in model.modules() if isinstance(m, FeatureEncoder) for p in m.parameters()}
    if not conv_ids:
        raise ValueError("optim.feature_encoder_lr_scale is set but the model has no conv feature encoder")
    return [
        {"params": [p for p in params if id(p) not in conv_ids]},
        {"params": [p for p in params if id(p) in conv_ids], "lr": optim.lr * optim.feature_encoder_lr_scale},
    ]


def resolve_precision(precision: str, device: torch.device) -> str:
    """bf16 matmuls on CPUs without native bf16 are ~100x slower than fp32: refuse them there."""
    if precision == "bf16" and device.type == "cpu":
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        if not any(getattr(torch.cpu, probe, lambda: False)() for probe in probes):
            log.warning("bf16 requested but this CPU has no native bf16: training in fp32 instead")
            return "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 training needs a CUDA device; use fp32 (or bf16 on CPUs with native bf16)")
    return precision


def sampler_and_dataset(cfg: RunConfig, model_cfg, manifest_path: str, shuffle: bool, *, rank: int = 0, world_size: int = 1):
    """The batch sampler and dataset of one manifest as a run reads it (training batches when
    ``shuffle``: seeded order, short clips skipped, augmentation on); ``model_cfg`` is the
    built model's config (its receptive field and waveform normalization)."""
    if not manifest_path:
        raise ValueError("data.train_manifest is not set")
    d = cfg.data
    manifest = Manifest.read(manifest_path)
    sampler = LengthBucketSampler(
        manifest.sizes,
        d.max_tokens,
        max_sample_size=d.max_sample_size,
        min_sample_size=d.min_sample_size if shuffle else 0,
        max_batch_size=d.max_batch_size,
        shuffle=shuffle,
        sorted_epochs=d.sorted_epochs,
        seed=cfg.seed,
        rank=rank,
        world_size=world_size,
    )
    dataset = AudioDataset(
        manifest,
        max_sample_size=d.max_sample_size,
        min_samples=model_cfg.feature_encoder.receptive_field,
        normalize=model_cfg.normalize_waveform,
        seed=cfg.seed,
        augment=d.augment if shuffle else None,  # training batches only
    )
    return sampler, dataset


class Trainer:
    def __init__(self, cfg: RunConfig, task: Task, output_dir: str | Path, *, resume: bool = False, progress: bool = True):
        self.cfg, self.task = cfg, task
        self.output_dir = Path(output_dir)
        self.checkpoints = self.output_dir / "checkpoints"
        self.env: DistributedEnv = init_distributed(cfg.device)
        if self.env.device.type == "cpu":
            keep_large_allocations_in_heap()  # ~10 % per CPU step (speechssl/runtime.py)
        self.progress = progress and self.env.is_main
        if self.env.is_main:
            self._prepare_output_dir(resume)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.model = task.build_model(cfg).to(self.env.device)
        if hasattr(self.model, "encoder"):
            self.model.encoder.validate_inputs = False  # audio is validated when loaded
        self.ddp: nn.parallel.DistributedDataParallel | None = None
        self._frozen: tuple[str, ...] | None = None
        self._apply_freezing(step=0)
        o = cfg.optim
        self.precision = resolve_precision(o.precision, self.env.device)
        self.optimizer = torch.optim.AdamW(
            parameter_groups(self.model, o), lr=o.lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_multiplier(o))
        # fairseq starts fp16 loss scaling at 128
        self.scaler = torch.amp.GradScaler(self.env.device.type, init_scale=128.0, enabled=self.precision == "fp16")
        self.train_data = self._loader(cfg.data.train_manifest, shuffle=True)
        self.valid_data = self._loader(cfg.data.valid_manifest, shuffle=False) if cfg.data.valid_manifest else None
        self.compiler = training_compiler(cfg, self.train_data[0]) if cfg.compile else None
        self.step, self.best_valid, self.nonfinite_in_a_row, self.nonfinite_total = 0, (math.inf,), 0, 0
        self.failed_files_total = 0  # unreadable files met so far (each is also logged by name)
        self.metrics = MetricLogger(self.output_dir, enabled=self.env.is_main)
        self._train_iter = None
        if resume:
            self._resume()

    # ---------------------------------------------------------------- setup

    def _prepare_output_dir(self, resume: bool) -> None:
        if not resume and checkpoint.find_latest(self.checkpoints) is not None:
            raise FileExistsError(f"{self.output_dir} already has checkpoints: pass --resume to continue it")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2) + "\n")

    def _loader(self, manifest_path: str, shuffle: bool):
        return sampler_and_dataset(self.cfg, self.model.cfg, manifest_path, shuffle, rank=self.env.rank, world_size=self.env.world_size)

    def _data_loader(self, sampler: LengthBucketSampler, dataset: AudioDataset):
        workers = self.cfg.data.num_workers
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=None,
            sampler=sampler,
            num_workers=workers,
            # its own generator: creating a loader must not advance the global RNG (dropout)
            generator=torch.Generator(),
            prefetch_factor=4 if workers > 0 else None,
        )

    def _apply_freezing(self, step: int) -> None:
        """Parameters under the task's frozen prefixes get ``requires_grad=False``: no graph is
        built for them and the optimizer skips them (their grad stays None, as in fairseq). DDP
        registers hooks for trainable parameters only, so it is rebuilt when the set changes."""
        frozen = tuple(self.task.frozen_prefixes(step)) if hasattr(self.task, "frozen_prefixes") else ()
        if frozen == self._frozen:
            return
        for name, param in self.model.named_parameters():
            param.requires_grad_(not (frozen and name.startswith(frozen)))
        if self._frozen is not None:
            log.info("update %d: frozen %s", step + 1, ", ".join(p.rstrip(".") for p in frozen) or "nothing")
        self._frozen = frozen
        if self.env.is_distributed:
            device_ids = [self.env.local_rank] if self.env.device.type == "cuda" else None
            self.ddp = nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)

    # ---------------------------------------------------------------- data

    def next_batch(self) -> dict:
        sampler, dataset = self.train_data
        while True:
            if self._train_iter is None:
                self._train_iter = iter(self._data_loader(sampler, dataset))
            try:
                batch = next(self._train_iter)
                sampler.batches_done += 1
                self.failed_files_total += len(batch["failed"])
                return batch
            except StopIteration:
                sampler.set_epoch(sampler.epoch + 1)
                self._train_iter = None

    def utterance_keys(self, batch: dict, step: int) -> torch.Tensor:
        return combine_keys(self.cfg.seed, step, batch["indices"]).to(self.env.device, non_blocking=True)

    # ---------------------------------------------------------------- one update

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.env.device.type, dtype=dtype)

    def train_step(self, micro_batches: list[dict]) -> dict[str, torch.Tensor] | None:
        """One optimizer update over ``update_freq`` micro-batches; None when skipped."""
        self._apply_freezing(self.step)
        model = self.ddp or self.model
        model.train()
        sample_size = torch.zeros((), device=self.env.device)
        stats: dict[str, torch.Tensor] = {}
        for i, batch in enumerate(micro_batches):
            last = i == len(micro_batches) - 1
            sync = contextlib.nullcontext() if (last or self.ddp is None) else self.ddp.no_sync()
            with sync:
                self._seed_layerdrop(i)
                loss, size, batch_stats = self._forward(model, batch)
                self.scaler.scale(loss).backward()
            sample_size += size
            for k, v in batch_stats.items():
                stats[k] = stats.get(k, 0.0) + v.detach().float()
        # DDP averages gradients over ranks; fairseq's normalization wants sum / global sample size.
        global_size = all_reduce_sum(sample_size.clone(), self.env)
        scale = self.env.world_size / global_size.clamp(min=1.0)
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        torch._foreach_mul_(grads, scale)
        self.scaler.unscale_(self.optimizer)
        clip = self.cfg.optim.clip_norm if self.cfg.optim.clip_norm > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        # One host sync per update: whether to apply it (fairseq checks the same way).
        if float(global_size) == 0:
            log.warning("update %d skipped: no usable audio in its batches", self.step + 1)
            self.optimizer.zero_grad(set_to_none=True)
            return None
        if not bool(torch.isfinite(grad_norm)):
            self._skip_update(micro_batches)
            return None
        self.nonfinite_in_a_row = 0
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        stats.update(
            sample_size=sample_size,
            grad_norm=grad_norm.detach(),
            audio_seconds=sum(b["audio_lens"].sum() for b in micro_batches).float() / SAMPLE_RATE,
            padded_samples=sum(b["audio"].numel() - b["audio_lens"].sum() for b in micro_batches).float(),
            batch_samples=torch.tensor(float(sum(b["audio"].numel() for b in micro_batches))),
            micro_batches=torch.tensor(float(len(micro_batches))),
        )
        return stats

    def _seed_layerdrop(self, micro_batch: int) -> None:
        """LayerDrop draws keyed by (seed, update, global micro-batch index): 2 ranks x 1
        micro-batch draw what 1 rank x 2 micro-batches draws. Ranks need not agree: a skipped
        layer still joins the graph with a zero term, so DDP sees every gradient."""
        if hasattr(self.model, "encoder"):
            index = micro_batch * self.env.world_size + self.env.rank
            key = int(combine_keys(self.cfg.seed, self.step, index, 1 << 20)) & ((1 << 62) - 1)
            self.model.encoder.transformer.layerdrop_generator = torch.Generator().manual_seed(key)

    def _forward(self, model: nn.Module, batch: dict):
        if batch["audio"].shape[0] == 0:
            # Every file of this micro-batch was unreadable: still join the gradient all-reduce.
            zero = sum(p.sum() for p in self.model.parameters()) * 0.0
            return zero, torch.zeros((), device=self.env.device), {}
        device_batch = {k: (v.to(self.env.device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}
        keys = self.utterance_keys(batch, self.step)
        with self.autocast():
            if self.compiler is not None:  # padded to a bucket, through the compiled model
                return self.compiler.run(self.task.loss, model, device_batch, self.step, keys)
            return self.task.loss(model, device_batch, self.step, keys)

    def _skip_update(self, micro_batches: list[dict]) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.update()
        self.nonfinite_in_a_row += 1
        self.nonfinite_total += 1
        log.warning("update %d skipped: non-finite gradient (%d in a row)", self.step + 1, self.nonfinite_in_a_row)
        if self.nonfinite_in_a_row >= self.cfg.max_nonfinite:
            path = self.output_dir / f"nonfinite_batch_rank{self.env.rank}_step{self.step + 1}.pt"
            torch.save({"step": self.step, "micro_batches": micro_batches}, path)
            raise RuntimeError(
                f"{self.nonfinite_in_a_row} updates in a row had non-finite gradients; the last batch is saved in "
                f"{path}. Lower the learning rate, enable clipping (optim.clip_norm) or check the audio."
            )

    # ---------------------------------------------------------------- loop

    def train(self, stop_after: int | None = None) -> dict[str, float]:
        """Train until ``optim.max_updates`` (or until update ``stop_after``, for time-sliced
        jobs: the schedule still follows ``max_updates``, and ``--resume`` continues)."""
        from tqdm import tqdm

        o = self.cfg.optim
        end = min(o.max_updates, stop_after) if stop_after is not None else o.max_updates
        bar = tqdm(total=o.max_updates, initial=self.step, desc="train", unit="upd", disable=not self.progress)
        window: list[dict[str, torch.Tensor]] = []
        last_metrics: dict[str, float] = {}
        start = time.perf_counter()
        try:
            while self.step < end:
                stats = self.train_step([self.next_batch() for _ in range(o.update_freq)])
                if stats is None:
                    continue
                self.step += 1
                bar.update()
                window.append(stats)
                if self.step % self.cfg.log_interval == 0 or self.step == o.max_updates:
                    last_metrics = self._log_train(window, time.perf_counter() - start)
                    shown = next((k for k in ("loss_bits", "loss_per_token", "loss") if k in last_metrics), None)
                    if shown is not None:
                        bar.set_postfix({shown: f"{last_metrics[shown]:.3f}"})
                    window, start = [], time.perf_counter()
                if self.valid_data is not None and (self.step % self.cfg.validate_interval == 0 or self.step == o.max_updates):
                    self._validate_and_keep_best()
                if self.step % self.cfg.save_interval == 0 or self.step in (o.max_updates, end):
                    self.save(f"step_{self.step:08d}")
        finally:
            bar.close()
            self.metrics.close()
        shutdown(self.env)
        return last_metrics

    def _reduce(self, sums: dict[str, torch.Tensor]) -> dict[str, float]:
        names = sorted(sums)
        packed = torch.stack([torch.as_tensor(sums[k], dtype=torch.float64, device=self.env.device) for k in names])
        all_reduce_sum(packed, self.env)
        return dict(zip(names, packed.tolist()))

    def _log_train(self, window: list[dict[str, torch.Tensor]], seconds: float) -> dict[str, float]:
        sums = {k: sum(s[k].to(self.env.device, torch.float64) for s in window) for k in window[0]}
        sums = self._reduce(sums)
        metrics = self.task.summarize(sums)
        metrics.update(
            lr=self.scheduler.get_last_lr()[0],
            grad_norm=sums["grad_norm"] / len(window) / self.env.world_size,
            loss_scale=self.scaler.get_scale() if self.scaler.is_enabled() else 1.0,
            audio_seconds=sums["audio_seconds"],  # trained on in this window (all ranks)
            audio_seconds_per_second=sums["audio_seconds"] / max(seconds, 1e-9),
            padded_fraction=sums["padded_samples"] / max(sums["batch_samples"], 1.0),
            failed_files=float(self.failed_files_total),
            skipped_updates=float(self.nonfinite_total),
        )
        if self.compiler is not None:
            metrics["compiled_graphs"] = float(self.compiler.graphs)
        self.metrics.write("train", self.step, metrics)
        if self.step >= self.cfg.collapse_check_after:
            for warning in self.task.check_health(metrics, self.step):
                log.warning("update %d: %s", self.step, warning)
        return metrics

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        sampler, dataset = self.valid_data
        self.model.eval()
        if hasattr(self.task, "begin_validation"):
            self.task.begin_validation()
        sums: dict[str, torch.Tensor] = {}
        for batch in self._data_loader(sampler, dataset):
            if batch["audio"].shape[0] == 0:
                continue
            device_batch = {k: (v.to(self.env.device) if torch.is_tensor(v) else v) for k, v in batch.items()}
            keys = combine_keys(self.cfg.seed, VALIDATION_STEP, batch["indices"]).to(self.env.device)
            with self.autocast():
                _, size, stats = self.task.loss(self.model, device_batch, self.step, keys)
            stats["sample_size"] = size
            stats["micro_batches"] = torch.tensor(1.0)
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v.detach().to(self.env.device, torch.float64)
        metrics = self.task.summarize(self._reduce(sums)) if sums else {}
        self.metrics.write("valid", self.step, metrics)
        if hasattr(self.task, "end_validation") and self.env.is_main:
            self.task.end_validation(metrics, self.step)
        return metrics

    def _validate_and_keep_best(self) -> None:
        metrics = self.validate()
        score = selection_key(metrics, getattr(self.task, "best_metric", "loss_bits"))
        if score < self.best_valid:
            self.best_valid = score
            self.save("best", mark_latest=False)

    # ---------------------------------------------------------------- checkpoints

    def train_state(self) -> dict[str, Any]:
        sampler, _ = self.train_data
        state = {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sampler": sampler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "best_valid": self.best_valid,
            "nonfinite_total": self.nonfinite_total,
            "failed_files_total": self.failed_files_total,
            "world_size": self.env.world_size,
            "config": json.dumps(self.cfg.to_dict()),
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def save(self, name: str, mark_latest: bool = True) -> None:
        if not self.env.is_main:
            return
        checkpoint.save_checkpoint(self.checkpoints, name, self.model, self.train_state())
        if mark_latest:
            checkpoint.mark_latest(self.checkpoints, name)
            checkpoint.prune(self.checkpoints, self.cfg.keep_last)

    def _resume(self) -> None:
        latest = checkpoint.find_latest(self.checkpoints)
        if latest is None:
            log.info("no checkpoint in %s: starting from scratch", self.checkpoints)
            return
        self.model.load_state_dict(checkpoint.load_weights(latest, self.env.device))
        state = checkpoint.load_train_state(latest)
        if state["world_size"] != self.env.world_size:
            log.warning("resuming a %d-process run on %d processes: the data order changes", state["world_size"], self.env.world_size)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.train_data[0].load_state_dict(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step, self.best_valid = state["step"], state["best_valid"]
        if not isinstance(self.best_valid, tuple):  # checkpoints from before tie-breaking kept one number
            self.best_valid = (self.best_valid,)
        self.nonfinite_total = state["nonfinite_total"]
        self.failed_files_total = state["failed_files_total"]
        log.info("resumed from %s at update %d", latest, self.step)
