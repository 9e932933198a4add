"""Feature writers: one ``.npy`` or ``.pt`` per utterance, or one HDF5 file for a whole set.

Every writer stores the layer names and the frame rate: ``features.json`` beside the ``.npy``
files, inside each ``.pt`` dict, and as HDF5 attributes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from speechssl.inference.features import Features


def _stack(features: Features) -> dict[str, torch.Tensor]:
    """Group layers by width: ``{"": (N, T, D)}`` for same-width layers, ``{"conv": (T, C)}`` apart."""
    same = [k for k in features.layers if k != "conv"]
    groups = {}
    if same:
        groups[""] = torch.stack([features.layers[k] for k in same])
    if "conv" in features.layers:
        groups["conv"] = features.layers["conv"]
    return groups


class FeatureWriter:
    def __init__(self, output: str | os.PathLike, layers: list[str], frame_rate: float, pooled: bool):
        self.output, self.layers, self.frame_rate, self.pooled = Path(output), layers, frame_rate, pooled

    def metadata(self) -> dict:
        return {"layers": self.layers, "frame_rate": self.frame_rate, "pooled": self.pooled,
                "stacked_layers": [k for k in self.layers if k != "conv"]}

    def write(self, utterance_id: str, features: Features) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class NpyWriter(FeatureWriter):
    """``<id>.npy``: the non-conv layers stacked ``(N, T, D)`` (``(N, D)`` pooled), in the order of
    ``stacked_layers`` in ``features.json``; ``<id>.conv.npy`` for the conv features."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.output.mkdir(parents=True, exist_ok=True)
        (self.output / "features.json").write_text(json.dumps(self.metadata(), indent=2) + "\n")

    def write(self, utterance_id: str, features: Features) -> None:
        for suffix, array in _stack(features).items():
            path = self.output / (utterance_id + (f".{suffix}" if suffix else "") + ".npy")
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, array.numpy())


class PtWriter(FeatureWriter):
    """``<id>.pt``: ``{"layers": {name: tensor}, "frame_times", "frame_rate"}``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.output.mkdir(parents=True, exist_ok=True)

    def write(self, utterance_id: str, features: Features) -> None:
        path = self.output / f"{utterance_id}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"layers": features.layers, "frame_times": features.frame_times, "frame_rate": features.frame_rate}, path)


class Hdf5Writer(FeatureWriter):
    """One ``.h5`` file: a group per utterance id holding a dataset per layer, and
    ``frame_times``; the file's attributes hold the layer names and frame rate."""

    def __init__(self, *args, **kwargs):
        import h5py

        super().__init__(*args, **kwargs)
        path = self.output if self.output.suffix in (".h5", ".hdf5") else self.output / "features.h5"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = h5py.File(path, "w")
        for key, value in self.metadata().items():
            self.file.attrs[key] = json.dumps(value) if isinstance(value, list) else value

    def write(self, utterance_id: str, features: Features) -> None:
        group = self.file.create_group(utterance_id)
        for name, value in features.layers.items():
            group.create_dataset(name, data=value.numpy())
        group.create_dataset("frame_times", data=features.frame_times.numpy())

    def close(self) -> None:
        self.file.close()


WRITERS = {"npy": NpyWriter, "pt": PtWriter, "hdf5": Hdf5Writer}


def get_writer(fmt: str, output, layers: list[str], frame_rate: float, pooled: bool) -> FeatureWriter:
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {sorted(WRITERS)}")
    return WRITERS[fmt](output, layers, frame_rate, pooled)
