"""Word start times of a CTC model against the word positions espeak-ng reported at synthesis.

    python tools/measure_word_times.py MODEL CORPUS_DIR [--split test]

For each utterance of ``<split>.tsv`` the model transcribes the audio; hypothesis words that
match the reference (jiwer's alignment, "equal" runs) are compared with the synthesis start
times, for word times from the forced alignment (``align``) and from the CTC spikes
(``frames``). The reference transcript is also force-aligned, which measures the aligner
apart from recognition errors. Prints a markdown table of mean / median absolute start error.
"""

import argparse
import json
import statistics
from pathlib import Path


def matched_starts(reference: list[str], hypothesis, truth: dict[int, float]) -> list[float]:
    """predicted - true start for hypothesis words equal to their aligned reference word."""
    import jiwer

    if not hypothesis:
        return []
    out = jiwer.process_words(" ".join(reference), " ".join(w.text for w in hypothesis))
    errors = []
    for chunk in out.alignments[0]:
        if chunk.type == "equal":
            for k in range(chunk.ref_end_idx - chunk.ref_start_idx):
                r = chunk.ref_start_idx + k
                if r in truth:
                    errors.append(hypothesis[chunk.hyp_start_idx + k].start - truth[r])
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("corpus")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    from speechssl.audio import load_audio
    from speechssl.data.manifest import Manifest
    from speechssl.inference.transcribe import Transcriber
    from speechssl.models import load_model

    model = load_model(args.model)
    corpus = Path(args.corpus)
    manifest = Manifest.read(corpus / f"{args.split}.tsv")
    times = {}
    for line in (corpus / f"{args.split}.words.jsonl").read_text().splitlines():
        record = json.loads(line)
        times[record["id"]] = record["words"]
    aligner, spikes = Transcriber(model, timestamps="align"), Transcriber(model, timestamps="frames")
    errors = {"align": [], "frames": [], "reference": []}
    for utterance in manifest.utterances:
        utt_id = Path(utterance.path).stem
        audio = load_audio(manifest.root / utterance.path)
        reference = model.tokenizer.normalizer(utterance.text).split()
        # synthesis times by reference word index (words espeak merged have none)
        truth, cursor = {}, 0
        for word, start in times[utt_id]:
            while cursor < len(reference) and reference[cursor] != word:
                cursor += 1
            if cursor < len(reference):
                truth[cursor] = start
                cursor += 1
        errors["align"] += matched_starts(reference, aligner.transcribe([audio])[0].words, truth)
        errors["frames"] += matched_starts(reference, spikes.transcribe([audio])[0].words, truth)
        aligned = aligner.align(audio, utterance.text)
        errors["reference"] += [aligned[i].start - t for i, t in truth.items() if i < len(aligned)]
    print("| word times | words compared | mean abs error (ms) | median abs (ms) | mean signed (ms) | within 100 ms |")
    print("|---|---|---|---|---|---|")
    labels = {"align": "transcribe, forced alignment", "frames": "transcribe, CTC spikes",
              "reference": "forced alignment of the reference"}
    for key, values in errors.items():
        if values:
            absolute = [abs(v) for v in values]
            within = sum(v <= 0.1 for v in absolute) / len(values)
            print(f"| {labels[key]} | {len(values)} | {1000 * statistics.mean(absolute):.1f} | "
                  f"{1000 * statistics.median(absolute):.0f} | {1000 * statistics.mean(values):+.0f} | {within:.0%} |")


if __name__ == "__main__":
    main()
