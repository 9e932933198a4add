"""B4 + B5: peak memory (fresh process per configuration) and feature-extraction speed.

    python tools/bench/b5_memory.py [--json out.json]

Each configuration runs alone in a new Python process and reports its peak resident set size
(``ru_maxrss``): a BASE pretraining update (1 x 15.6 s, dropouts 0.1, two updates, AdamW),
CTC inference at 15.6 s and 60 s, and feature extraction of all 13 hidden states at 60 s;
each for speechssl and transformers (same weights). In this process: saved-for-backward
bytes of one 15.6 s pretraining forward (``saved_tensors_hooks``, deduplicated by storage),
and B4's extraction real-time factor, interleaved.
"""

import json
import sys

import torch

from common import calibrate, finish, hf_twin, interleave, log, parse_args, peak_rss_mb, set_threads


def build(kind: str, impl: str):
    from speechssl import config
    from speechssl.model import Wav2Vec2Encoder, Wav2Vec2ForCTC, Wav2Vec2ForPretraining

    torch.manual_seed(0)
    if kind == "pretraining":
        ours = Wav2Vec2ForPretraining(config.override(config.base(), {"transformer.layerdrop": 0.0}))
        cls = "Wav2Vec2ForPreTraining"
    elif kind == "ctc":
        ours, cls = Wav2Vec2ForCTC(config.override(config.base(), {"vocab_size": 32})), "Wav2Vec2ForCTC"
    else:
        ours, cls = Wav2Vec2Encoder(config.base()), "Wav2Vec2Model"
    return ours if impl == "speechssl" else hf_twin(ours, cls)


def one(config_name: str, impl: str) -> None:
    """Child process: run one configuration, print nothing but a marker."""
    set_threads(2)
    from speechssl.runtime import keep_large_allocations_in_heap

    kind, seconds = config_name.split("@")
    if impl == "speechssl" and kind == "pretraining":
        keep_large_allocations_in_heap()  # what speechssl's trainer does (inference does not)
    samples = int(float(seconds) * 16_000)
    wave = torch.randn(1, samples) * 0.1
    if kind == "pretraining":
        from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

        model = build(kind, impl).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        for _ in range(2):
            if impl == "speechssl":
                loss = model(wave).loss
            else:
                frames = model.wav2vec2._get_feat_extract_output_lengths(samples)
                mask = _compute_mask_indices((1, int(frames)), 0.65, 10, min_masks=2)
                neg = _sample_negative_indices((1, int(frames)), 100, mask_time_indices=mask)
                loss = model(wave, mask_time_indices=torch.from_numpy(mask), sampled_negative_indices=torch.from_numpy(neg)).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
    else:
        model = build(kind, impl).eval()
        with torch.inference_mode():
            model(wave, output_hidden_states=kind == "features")
    print("done")


def saved_bytes(model, run) -> int:
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run(model)
    return sum(storages.values())


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        one(sys.argv[2], sys.argv[3])
        return
    args = parse_args(__doc__)
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

    peak = calibrate()
    results = {"peak_rss_mb": {}}
    for config_name in ("pretraining@15.625", "ctc@15.625", "ctc@60", "features@60"):
        for impl in ("speechssl", "transformers"):
            log(f"B5 {config_name} {impl} (fresh process)")
            mb, _ = peak_rss_mb([sys.executable, __file__, "--one", config_name, impl])
            results["peak_rss_mb"].setdefault(config_name, {})[impl] = mb

    ours, theirs = build("pretraining", "speechssl").train(), build("pretraining", "transformers").train()
    wave = torch.randn(1, 250_000) * 0.1
    frames = ours.encoder.num_frames(250_000)
    mask = _compute_mask_indices((1, frames), 0.65, 10, min_masks=2)
    neg = _sample_negative_indices((1, frames), 100, mask_time_indices=mask)
    log("B5 saved activations")
    results["saved_for_backward_mib"] = {
        "speechssl": saved_bytes(ours, lambda m: m(wave).loss) / 2**20,
        "transformers": saved_bytes(theirs, lambda m: m(wave, mask_time_indices=torch.from_numpy(mask),
                                                         sampled_negative_indices=torch.from_numpy(neg)).loss) / 2**20,
    }
    del ours, theirs
    enc_ours, enc_theirs = build("features", "speechssl").eval(), build("features", "transformers").eval()
    wave60 = torch.randn(1, 960_000) * 0.1
    log("B4 feature extraction, all layers, 60 s")
    with torch.inference_mode():
        timing = interleave({"speechssl": lambda: enc_ours(wave60, output_hidden_states=True),
                             "transformers": lambda: enc_theirs(wave60, output_hidden_states=True)},
                            reps=max(2, args.reps - 2), warmup=args.warmup)
        mine = enc_ours(wave60, output_hidden_states=True).hidden_states
        ref = enc_theirs(wave60, output_hidden_states=True).hidden_states
    results["b4_features_60s"] = {
        "timing": timing, "rtf": {k: t["median"] / 60 for k, t in timing.items()},
        "layers": len(mine), "max_abs_diff_first_12": max(float((a - b).abs().max()) for a, b in zip(mine[:12], ref[:12])),
        "extra_rss_mb": {k: results["peak_rss_mb"]["features@60"][k] - results["peak_rss_mb"]["ctc@60"][k]
                         for k in ("speechssl", "transformers")},
        "bound_mb": 13 * enc_ours.num_frames(960_000) * 768 * 4 / 2**20,
    }
    finish(args, "b5_memory", json.loads(json.dumps(results)), peak)


if __name__ == "__main__":
    main()
