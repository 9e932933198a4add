"""The one resolver of model references: what a name points at, then the model it holds.

A reference is, in this order:

- a speechssl model directory (``speechssl.json`` + ``model.safetensors``);
- a speechssl training run directory (its ``checkpoints/best``, else the latest checkpoint);
- a Hugging Face ``transformers`` directory (``config.json`` + weights);
- a fairseq checkpoint file (``.pt``), with the ``dict.ltr.txt`` beside it as a fine-tuned
  model's vocabulary unless another dictionary is given;
- a Hugging Face hub id ``org/name`` or ``org/name@revision``, fetched with ``huggingface_hub``
  into its standard cache (only the files a wav2vec 2.0 model needs). ``HF_HUB_OFFLINE=1`` or
  ``local_files_only=True`` read the cache alone; ``HF_TOKEN`` / ``huggingface-cli login`` give
  access to private models; ``HF_ENDPOINT`` names another hub.

Anything else raises :class:`ModelError`, whose one-line message says what was found and what
would work; the CLI prints it and exits with code 2. This module sits above the formats it
dispatches to (serialization, convert/); none of them imports it. The heavy imports happen in
the functions, so the CLI can import :class:`ModelError` cheaply.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger("speechssl.models")

# org/name with an optional @revision (branch, tag or commit); the hub's own name rules.
_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]*[A-Za-z0-9_])(?:@(?P<revision>[\w./-]+))?$")
# What a transformers wav2vec 2.0 model needs; weights in safetensors first, pickles only without them.
HUB_CONFIG_FILES = [
    "config.json", "preprocessor_config.json", "vocab.json", "tokenizer_config.json", "added_tokens.json",
    "special_tokens_map.json",
]
HUB_SAFETENSORS = ["model.safetensors", "model.safetensors.index.json", "model-*-of-*.safetensors"]
HUB_PICKLES = ["pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*-of-*.bin"]
HF_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
WHAT_WORKS = ("a speechssl model or run directory, a Hugging Face directory (config.json + weights), "
              "a fairseq .pt file, or a hub id org/name[@revision]")


class ModelError(ValueError):
    """A model reference that leads to no loadable model; the message is one line."""


@dataclass(frozen=True)
class Resolved:
    """Where a reference led: the format and the local path to read."""

    reference: str  # as given
    format: Literal["speechssl", "huggingface", "fairseq"]
    path: Path  # the directory (speechssl, huggingface) or file (fairseq) to load
    run_dir: Path | None = None  # the training run the checkpoint belongs to
    hub_id: str | None = None  # org/name[@revision] when fetched from the hub


def resolve(reference: str | os.PathLike, *, local_files_only: bool = False) -> Resolved:
    """Find the model ``reference`` names, downloading a hub id if needed; :class:`ModelError` if none."""
    ref = str(reference)
    path = Path(ref).expanduser()
    if path.is_symlink() and not path.exists():
        raise ModelError(f"{ref}: dangling symbolic link (to {os.readlink(path)})")
    if path.is_dir():
        return _resolve_directory(ref, path)
    if path.is_file():
        if path.name in ("speechssl.json", "config.json"):  # a model's metadata file: the model is its folder
            return _resolve_directory(ref, path.parent)
        return Resolved(ref, "fairseq", path)
    match = _HUB_ID.match(ref)
    if match is None or ref.startswith((".", "/", "~")):
        raise ModelError(f"{ref}: no such file or directory (a model is {WHAT_WORKS})")
    return Resolved(ref, "huggingface", fetch_from_hub(ref, match["repo"], match["revision"], local_files_only), hub_id=ref)


def _resolve_directory(ref: str, path: Path) -> Resolved:
    from speechssl.serialization import META_FILE
    from speechssl.train import checkpoint

    if (path / META_FILE).is_file():
        return Resolved(ref, "speechssl", path)
    if (path / "checkpoints").is_dir():
        best = path / "checkpoints" / "best"
        found = best if (best / META_FILE).is_file() else checkpoint.find_latest(path / "checkpoints")
        if found is None:
            raise ModelError(f"{ref}: a training run with no finished checkpoint in checkpoints/ yet")
        log.info("%s is a training run: loading its %s checkpoint (%s)", ref, "best" if found == best else "latest", found)
        return Resolved(ref, "speechssl", found, run_dir=path)
    if (path / "config.json").is_file():
        if not any((path / name).is_file() for name in HF_WEIGHTS):
            raise ModelError(f"{ref}: a Hugging Face config.json without weights (model.safetensors or pytorch_model.bin)")
        return Resolved(ref, "huggingface", path)
    entries = sorted(p.name for p in path.iterdir())
    found = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "") if entries else "nothing"
    raise ModelError(f"{ref}: a directory with no model in it (found {found}); a model is {WHAT_WORKS}")


def fetch_from_hub(ref: str, repo: str, revision: str | None, local_files_only: bool = False) -> Path:
    """Download (or find in the cache) the files of hub model ``repo`` that a wav2vec 2.0 model needs."""
    try:
        import huggingface_hub
        from huggingface_hub import constants, errors
    except ImportError:  # pragma: no cover - a runtime dependency
        raise ModelError(f"{ref}: not a local path, and huggingface_hub (needed for hub ids) is not installed") from None

    def download(patterns: list[str]) -> Path:
        return Path(huggingface_hub.snapshot_download(
            repo, revision=revision, allow_patterns=patterns, local_files_only=local_files_only,
        ))

    offline = local_files_only or constants.HF_HUB_OFFLINE
    try:
        folder = download(HUB_CONFIG_FILES + HUB_SAFETENSORS)
        if not any((folder / name).is_file() for name in HF_WEIGHTS):
            folder = download(HUB_PICKLES)  # an older repository: pickled weights only
    except errors.GatedRepoError:
        raise ModelError(f"{ref}: a gated hub model: accept its terms on the hub and set HF_TOKEN") from None
    except errors.RepositoryNotFoundError:
        raise ModelError(f"{ref}: no such local path, and no model {repo} on the hub at {constants.ENDPOINT} "
                         f"(a private one needs HF_TOKEN); a model is {WHAT_WORKS}") from None
    except errors.RevisionNotFoundError:
        raise ModelError(f"{ref}: no such local path, and the hub model {repo} has no revision {revision!r}") from None
    except errors.LocalEntryNotFoundError:
        if offline:
            raise ModelError(f"{ref}: no such local path, and not in the Hugging Face cache ({constants.HF_HUB_CACHE}) "
                             "while downloads are off (HF_HUB_OFFLINE / local_files_only)") from None
        raise ModelError(f"{ref}: no such local path; as a hub id: the hub at {constants.ENDPOINT} cannot be "
                         "reached and the model is not in the cache") from None
    except (errors.HfHubHTTPError, OSError) as error:
        raise ModelError(f"{ref}: no such local path; as a hub id the download failed: {_first_line(error)}") from None
    if not (folder / "config.json").is_file():
        raise ModelError(f"{ref}: the hub repository has no config.json: not a transformers wav2vec 2.0 model")
    if not any((folder / name).is_file() for name in HF_WEIGHTS):
        raise ModelError(f"{ref}: the hub repository (as cached in {folder}) has no model.safetensors or pytorch_model.bin")
    log.info("%s: hub model in %s", ref, folder)
    return folder


def load_resolved(found: Resolved, map_location="cpu", dictionary: str | os.PathLike | None = None):
    """The model at ``found``, in eval mode; format errors become :class:`ModelError`."""
    import pickle

    if dictionary is not None and found.format != "fairseq":
        raise ModelError(f"{found.reference}: a dictionary only goes with a fairseq checkpoint, this is {found.format}")
    try:
        if found.format == "speechssl":
            from speechssl.serialization import load_native

            return load_native(found.path, map_location)
        if found.format == "huggingface":
            from speechssl.convert.huggingface import load_huggingface

            return load_huggingface(found.path).to(map_location)
        from speechssl.convert.fairseq import load_fairseq

        beside = found.path.parent / "dict.ltr.txt"
        if dictionary is None and beside.is_file():  # where fairseq's fine-tuned models keep their letters
            log.info("%s: vocabulary from %s", found.reference, beside)
            dictionary = beside
        return load_fairseq(found.path, dictionary).model.to(map_location)
    except (ValueError, KeyError, OSError, EOFError, pickle.UnpicklingError, RuntimeError) as error:
        if isinstance(error, ModelError):
            raise
        message = _first_line(error)
        prefix = "" if found.reference in message or str(found.path) in message else f"{found.reference}: "
        raise ModelError(f"{prefix}cannot load it as a {found.format} model: {message}") from None


def load_model(reference: str | os.PathLike, map_location="cpu", *, dictionary: str | os.PathLike | None = None,
               local_files_only: bool = False):
    """Resolve ``reference`` (see the module docstring) and load the model, in eval mode.

    Args:
        dictionary: fairseq ``dict.ltr.txt`` of a fine-tuned fairseq checkpoint (its vocabulary).
        local_files_only: never download; a hub id must be in the cache.
    """
    return load_resolved(resolve(reference, local_files_only=local_files_only), map_location, dictionary)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
