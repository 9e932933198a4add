import os

import pytest

# The suite is the CPU suite: its exactness tests (resume == uninterrupted, two gloo ranks == one
# process) are bitwise on the CPU, and with ``device: auto`` a CUDA machine would move every
# training test onto its GPU (NCCL, nondeterministic kernels, one GPU for two ranks). Hidden here,
# before torch initializes CUDA, for this process and every subprocess it starts (the CLI, torchrun).
# The GPU is checked by tools/bench/gpu.py.
os.environ["CUDA_VISIBLE_DEVICES"] = ""


@pytest.fixture(scope="session")
def synthetic_corpus(tmp_path_factory):
    """A ~70 s corpus of real synthesized speech, shared by the data and training tests."""
    from speechssl.data.corpora.synthetic import prepare_synthetic

    root = tmp_path_factory.mktemp("corpus")
    prepare_synthetic(root, hours=0.02, seed=3, labeled_fraction=0.2, dev_fraction=0.15, test_fraction=0.15, progress=False)
    return root
