"""The zoo's version, recorded in every saved model and result file."""

__version__ = "0.1.0"
