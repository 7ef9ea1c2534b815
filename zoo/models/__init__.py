"""Models: the parts (``posteriors``, ``priors``, ``likelihoods``, ``objectives``,
``networks``), the ``VAE`` that assembles them (``vae``), and the families, one file of
registered builders each. Importing this package registers every builder."""

from zoo.models import vanilla  # noqa: F401  (registers mlp_vae, cnn_vae, beta_vae)
from zoo.models.registry import get, list_models, register
