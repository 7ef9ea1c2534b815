"""VAEs with a normalising-flow posterior: inverse autoregressive flow (Kingma et al. 2016).

The model of mlp_vae (N(0, I) prior, Bernoulli decoder) with q(z|x) a diagonal Gaussian
transformed by ``flows`` IAF steps conditioned on a context h(x) from the encoder
(``zoo.models.posteriors.InverseAutoregressiveFlow``). The objective is the ELBO, its KL
a Monte Carlo estimate (no closed form through a flow)::

    loss(x) = -log p(x|z) + log q(z|x) - log p(z),   z = f_T(...f_1(mu + sigma * eps))

with ``log q(z|x) = log N(z_0 | mu, sigma^2) - sum_t log |det df_t/dz|``. The paper's
MNIST numbers use a ResNet encoder; this builder keeps mlp_vae's MLPs so that the effect
of the flow alone is measured.
"""

from zoo.models import networks
from zoo.models.posteriors import InverseAutoregressiveFlow
from zoo.models.priors import StandardNormal
from zoo.models.likelihoods import Likelihood
from zoo.models.registry import (Choice, FloatRange, ImageShape, IntRange, PositiveFloat,
                                 PositiveInt, Widths, register)
from zoo.models.vae import VAE, compiled

SPACE = {"latent_dim": IntRange(8, 64, log=True), "flows": IntRange(1, 8),
         "made_units": Choice(("64,64", "128,128", "256,256")),
         "learning_rate": FloatRange(1e-4, 3e-3)}


@register("iaf_vae", space=SPACE)
def iaf_vae(latent_dim: PositiveInt = 32, hidden_units: Widths = (512, 256),
            flows: PositiveInt = 2, made_units: Widths = (128, 128),
            context_dim: PositiveInt = 32, input_shape: ImageShape = (28, 28, 1),
            learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli"):
    """mlp_vae with an inverse autoregressive flow posterior (Kingma et al. 2016)."""
    posterior = InverseAutoregressiveFlow(latent_dim, context_dim, flows=flows,
                                          hidden_units=made_units, name="q_z_given_x")
    encoder, decoder = networks.mlp(input_shape, hidden_units, latent_dim, posterior=posterior,
                                    likelihood=likelihood)
    return compiled(VAE(encoder, decoder, StandardNormal(latent_dim)), learning_rate)
