"""Models: the parts (``posteriors``, ``priors``, ``likelihoods``, ``objectives``,
``networks``), the ``VAE`` that assembles them (``vae``), and the families, one file of
registered builders each. Importing this package registers every builder, the zoo's and
those of installed plugins and ``ZOO_PLUGINS`` (``plugins``)."""

# Each family registers its builders on import.
from zoo.models import (  # noqa: F401
    autoencoders, conditional, disentangling, flows, hamiltonian, hierarchical,
    hyperspherical, infovae, iwae, learned_priors, perceptual, tcvae, vanilla, vq)
from zoo.models.registry import get, list_models, register

from zoo import plugins  # noqa: E402 - after the zoo's own: plugins may use them

plugins.load_installed()

__all__ = ["get", "list_models", "register"]
