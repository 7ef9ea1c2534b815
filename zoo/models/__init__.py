"""Models: the parts (``posteriors``, ``priors``, ``likelihoods``, ``objectives``,
``networks``), the ``VAE`` that assembles them (``vae``), and the families, one file of
registered builders each. Importing this package registers every builder."""

# Each family registers its builders on import.
from zoo.models import (  # noqa: F401
    conditional, flows, hierarchical, iwae, learned_priors, tcvae, vanilla)
from zoo.models.registry import get, list_models, register

__all__ = ["get", "list_models", "register"]
