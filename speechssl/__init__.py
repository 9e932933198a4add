"""speechssl: self-supervised speech learning with the faithful wav2vec 2.0 stack."""

__version__ = "0.1.0"
