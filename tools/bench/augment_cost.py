"""The cost of data augmentation in a loader worker, in audio-seconds augmented per second of work.

    python tools/bench/augment_cost.py [--manifest train.tsv] [--utterances 200] [--json out.json]

One thread (a DataLoader worker's), the utterances of ``--manifest`` (default: a small synthetic
corpus made in a temporary folder) loaded as the trainer's dataset loads them (crop included),
once plain and once augmented, interleaved per utterance. The augmentation's work is the
difference; it is counted in CPU seconds of this process (``time.process_time``), so other
jobs on a shared machine do not inflate it, and in wall seconds beside it. Rows: each effect
alone at probability 1, then the synthetic recipe's ``synthetic_augment()`` at its probabilities.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import tempfile
import time
from pathlib import Path

from common import REPO, log, machine, parse_args


def recipe_augment():
    spec = importlib.util.spec_from_file_location("synthetic_configs", REPO / "recipes" / "synthetic" / "configs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_augment()


def measure(manifest, augment, indices: list[int], max_sample_size: int) -> dict[str, float]:
    from speechssl.data.dataset import AudioDataset

    plain = AudioDataset(manifest, max_sample_size=max_sample_size, seed=1)
    augmented = AudioDataset(manifest, max_sample_size=max_sample_size, seed=1, augment=augment)
    cpu = {"plain": 0.0, "augmented": 0.0}
    wall = dict(cpu)
    audio_seconds = 0.0
    for index in indices:  # interleaved, so a change of machine load hits both alike
        for name, dataset in (("plain", plain), ("augmented", augmented)):
            c, w = time.process_time(), time.perf_counter()
            audio = dataset.load(index, epoch=0)
            cpu[name] += time.process_time() - c
            wall[name] += time.perf_counter() - w
        audio_seconds += plain.load(index, epoch=0).numel() / 16_000
    work_cpu = max(cpu["augmented"] - cpu["plain"], 1e-9)
    work_wall = max(wall["augmented"] - wall["plain"], 1e-9)
    return {
        "audio_seconds": audio_seconds,
        "augment_cpu_seconds": work_cpu,
        "audio_s_per_cpu_s": audio_seconds / work_cpu,
        "audio_s_per_wall_s": audio_seconds / work_wall,
        "load_plain_audio_s_per_cpu_s": audio_seconds / max(cpu["plain"], 1e-9),
        "load_augmented_audio_s_per_cpu_s": audio_seconds / max(cpu["augmented"], 1e-9),
    }


def main() -> None:
    def extra(parser):
        parser.add_argument("--manifest", help="a training manifest (default: a 0.05 h synthetic corpus)")
        parser.add_argument("--utterances", type=int, default=200)
        parser.add_argument("--max-sample-size", type=int, default=250_000)

    args = parse_args(__doc__, extra)
    from speechssl.data.manifest import Manifest
    from speechssl.train.config import AugmentConfig, resolve_run_config

    if args.threads != 1:
        log(f"note: --threads {args.threads}; a loader worker runs 1")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.manifest
        if path is None:
            from speechssl.data.corpora.synthetic import prepare_synthetic

            log("synthesizing a 0.05 h corpus")
            prepare_synthetic(tmp, hours=0.05, seed=0, progress=False)
            path = f"{tmp}/train_unlabeled.tsv"
        manifest = Manifest.read(path)
        indices = list(range(min(args.utterances, len(manifest))))
        recipe = recipe_augment()
        noise_dir = f"{tmp}/noise"
        from speechssl.testing import augment_everything

        everything = resolve_run_config("tiny", augment_everything(noise_dir, prob=1.0)).data.augment
        measure(manifest, everything, indices[:3], args.max_sample_size)  # imports and first calls, untimed
        rows = {f"{name} alone": dataclasses.replace(AugmentConfig(), **{f"{name}_prob": 1.0}, noise_dir=noise_dir)
                for name in ("speed", "reverb", "noise", "babble", "noise_dir", "telephone", "lowpass", "gain")}
        rows["synthetic_augment()"] = recipe
        results = {}
        for name, cfg in rows.items():
            results[name] = measure(manifest, cfg, indices, args.max_sample_size)
            log(f"{name:22s} {results[name]['audio_s_per_cpu_s']:8.1f} audio-s per CPU-s of augmentation "
                f"({results[name]['audio_s_per_wall_s']:.1f} per wall-s); loading plain "
                f"{results[name]['load_plain_audio_s_per_cpu_s']:.0f}, augmented {results[name]['load_augmented_audio_s_per_cpu_s']:.0f}")
    payload = {"benchmark": "augment_cost", "machine": machine(), "utterances": len(indices),
               "manifest": args.manifest or "synthetic 0.05 h", "results": results}
    text = json.dumps(payload, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
