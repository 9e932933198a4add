"""Chunked versus one-pass transcription of a long file made of a corpus split's utterances.

    python tools/measure_chunking.py MODEL MANIFEST [--seconds 60] [--windows 20:5 30:5 10:2]

The split's audio is concatenated (in manifest order) to ``--seconds``; the model transcribes
it in one pass and with each window:overlap setting. Prints a markdown table: frames whose
argmax differs, the largest log-probability difference, whether the texts are identical, and
their word error rate with the one-pass text as the reference.
"""

import argparse

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("manifest")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--windows", nargs="+", default=["20:5", "30:5", "10:2"])
    args = parser.parse_args()
    from speechssl.audio import load_audio
    from speechssl.data.manifest import Manifest
    from speechssl.inference.transcribe import Transcriber
    from speechssl.models import load_model

    model = load_model(args.model)
    manifest = Manifest.read(args.manifest)
    clips, total = [], 0
    for i in range(len(manifest)):
        clips.append(load_audio(manifest.audio_path(i)))
        total += clips[-1].numel()
        if total >= args.seconds * 16000:
            break
    audio = torch.cat(clips)[: args.seconds * 16000]
    whole = Transcriber(model, window_seconds=None, timestamps="none")
    reference_lp = whole.utterance_log_probs(audio)
    reference = whole.transcribe([audio])[0].text
    print(f"{audio.numel() / 16000:.0f} s of audio, {reference_lp.shape[0]} frames, {len(reference.split())} words (one pass)\n")
    from speechssl.text.scoring import error_counts

    print("| window / overlap (s) | frames with another argmax | max abs log-prob difference | same text | "
          "word difference to one pass |")
    print("|---|---|---|---|---|")
    for setting in args.windows:
        window, overlap = (float(x) for x in setting.split(":"))
        chunked = Transcriber(model, window_seconds=window, overlap_seconds=overlap, timestamps="none")
        lp = chunked.utterance_log_probs(audio)
        flips = int((lp.argmax(-1) != reference_lp.argmax(-1)).sum())
        text = chunked.transcribe([audio])[0].text
        differ = error_counts(reference, text)
        print(f"| {window:g} / {overlap:g} | {flips} of {lp.shape[0]} | {(lp - reference_lp).abs().max():.4f} | "
              f"{'yes' if text == reference else 'no'} | {100 * differ.wer:.1f}% ({differ.word_errors} words) |")


if __name__ == "__main__":
    main()
