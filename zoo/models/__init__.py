"""Model families. Importing this package registers every builder in it."""

from zoo.models import vae  # noqa: F401  (registers mlp_vae, cnn_vae, beta_vae)
from zoo.models.registry import get, list_models, register
