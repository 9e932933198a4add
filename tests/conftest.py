import pytest


@pytest.fixture(scope="session")
def synthetic_corpus(tmp_path_factory):
    """A ~70 s corpus of real synthesized speech, shared by the data and training tests."""
    from speechssl.data.corpora.synthetic import prepare_synthetic

    root = tmp_path_factory.mktemp("corpus")
    prepare_synthetic(root, hours=0.02, seed=3, labeled_fraction=0.2, dev_fraction=0.15, test_fraction=0.15, progress=False)
    return root
