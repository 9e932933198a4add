"""Checkpoints that a crash cannot corrupt.

Layout under ``<output_dir>/checkpoints/``: one directory per checkpoint (``step_00001000``,
``best``), each holding the model as :mod:`speechssl.serialization` writes it
(``speechssl.json`` + ``model.safetensors``) and ``trainer.pt`` (optimizer, scheduler, scaler,
sampler, step, RNG state, run config). A checkpoint is written into a hidden temporary
directory, flushed to disk, then renamed into place; ``latest`` (a one-line file, replaced
atomically) names the newest complete one. A process killed mid-write leaves only a temporary
directory behind, and resume takes the previous checkpoint.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from speechssl.serialization import META_FILE, WEIGHTS_FILE, save_model

TRAINER_FILE = "trainer.pt"
LATEST_FILE = "latest"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_train_state(directory: Path, state: dict[str, Any]) -> None:
    torch.save(state, directory / TRAINER_FILE)


def save_checkpoint(root: Path, name: str, model: torch.nn.Module, state: dict[str, Any], extra: dict | None = None) -> Path:
    """Write checkpoint ``root/name`` atomically (replacing an existing one of that name)."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    save_model(model, tmp, extra=extra)
    write_train_state(tmp, state)
    _fsync_tree(tmp)
    final = root / name
    if final.exists():
        old = root / f".{name}.old"
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)
    return final


def mark_latest(root: Path, name: str) -> None:
    tmp = root / f".{LATEST_FILE}.tmp"
    tmp.write_text(name + "\n")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, root / LATEST_FILE)


def is_complete(directory: Path) -> bool:
    return all((directory / f).is_file() for f in (META_FILE, WEIGHTS_FILE, TRAINER_FILE))


def step_checkpoints(root: Path) -> list[Path]:
    """Complete ``step_*`` checkpoints, oldest first."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and is_complete(p)]
    return [p for _, p in sorted(found)]


def find_latest(root: Path) -> Path | None:
    """The checkpoint ``latest`` names, or the newest complete step checkpoint if it is unusable."""
    pointer = root / LATEST_FILE
    if pointer.is_file():
        candidate = root / pointer.read_text().strip()
        if candidate.name and is_complete(candidate):
            return candidate
    steps = step_checkpoints(root)
    return steps[-1] if steps else None


def prune(root: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` step checkpoints (never the one ``latest`` names)."""
    latest = find_latest(root)
    steps = step_checkpoints(root)
    for path in steps[: max(0, len(steps) - keep_last)]:
        if path != latest:
            shutil.rmtree(path)


def load_weights(directory: Path, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    import safetensors.torch

    return safetensors.torch.load_file(str(directory / WEIGHTS_FILE), device=str(device))


def load_train_state(directory: Path) -> dict[str, Any]:
    return torch.load(directory / TRAINER_FILE, map_location="cpu", weights_only=True)
