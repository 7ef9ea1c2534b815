"""VAEs with a normalising-flow posterior: inverse autoregressive flow (Kingma et al. 2016),
affine coupling, RealNVP (Dinh et al. 2017), and planar or radial flows (Rezende & Mohamed
2015).

The model of mlp_vae (N(0, I) prior, MLP decoder to the ``likelihood`` head) with q(z|x) a
diagonal Gaussian transformed by ``flows`` steps conditioned on a context h(x) from the
encoder (``zoo.models.posteriors.InverseAutoregressiveFlow``, ``RealNVPFlow``,
``PlanarFlow``, ``RadialFlow``). The
objective is the ELBO, its KL a Monte Carlo estimate (no closed form through a flow)::

    loss(x) = -log p(x|z) + log q(z|x) - log p(z),   z = f_T(...f_1(mu + sigma * eps))

with ``log q(z|x) = log N(z_0 | mu, sigma^2) - sum_t log |det df_t/dz|``. Each step starts
as the identity. The IAF paper's MNIST numbers use a ResNet encoder; these builders keep
mlp_vae's MLPs so that the effect of the flow alone is measured.
"""

from zoo.models import networks
from zoo.models.likelihoods import Likelihood
from zoo.models.posteriors import (InverseAutoregressiveFlow, PlanarFlow, RadialFlow,
                                   RealNVPFlow)
from zoo.models.priors import StandardNormal
from zoo.models.registry import (Choice, FloatRange, ImageShape, IntRange, PositiveFloat,
                                 PositiveInt, Widths, one_of, register)
from zoo.models.vae import VAE, compiled

STEP_UNITS = Choice(("64,64", "128,128", "256,256"))
IAF_SPACE = {"latent_dim": IntRange(8, 64, log=True), "flows": IntRange(1, 8),
             "made_units": STEP_UNITS, "learning_rate": FloatRange(1e-4, 3e-3)}
NVP_SPACE = {"latent_dim": IntRange(8, 64, log=True), "flows": IntRange(2, 8),
             "coupling_units": STEP_UNITS, "learning_rate": FloatRange(1e-4, 3e-3)}
LINNF_SPACE = {"latent_dim": IntRange(8, 64, log=True), "flow": Choice(("planar", "radial")),
               "flows": IntRange(1, 32, log=True), "learning_rate": FloatRange(1e-4, 3e-3)}
PER_EXAMPLE_FLOWS = {"planar": PlanarFlow, "radial": RadialFlow}


def flow_vae(flow, latent_dim, hidden_units, flows, step_units, context_dim, input_shape,
             learning_rate, likelihood, activation):
    """mlp_vae's networks (hidden layers of ``activation``) around a ``flow`` posterior
    layer class (steps' networks of ``step_units``)."""
    posterior = flow(latent_dim, context_dim, flows=flows, hidden_units=step_units,
                     name="q_z_given_x")
    encoder, decoder = networks.mlp(input_shape, hidden_units, latent_dim, activation=activation,
                                    posterior=posterior, likelihood=likelihood)
    return compiled(VAE(encoder, decoder, StandardNormal(latent_dim)), learning_rate)


@register("iaf_vae", space=IAF_SPACE)
def iaf_vae(latent_dim: PositiveInt = 32, hidden_units: Widths = (512, 256),
            flows: PositiveInt = 2, made_units: Widths = (128, 128),
            context_dim: PositiveInt = 32, input_shape: ImageShape = (28, 28, 1),
            learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli",
            activation: networks.Activation = "relu"):
    """mlp_vae with an inverse autoregressive flow posterior (Kingma et al. 2016)."""
    return flow_vae(InverseAutoregressiveFlow, latent_dim, hidden_units, flows, made_units,
                    context_dim, input_shape, learning_rate, likelihood, activation)


@register("nvp_vae", space=NVP_SPACE)
def nvp_vae(latent_dim: PositiveInt = 32, hidden_units: Widths = (512, 256),
            flows: PositiveInt = 4, coupling_units: Widths = (128, 128),
            context_dim: PositiveInt = 32, input_shape: ImageShape = (28, 28, 1),
            learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli",
            activation: networks.Activation = "relu"):
    """mlp_vae with a conditional RealNVP (affine coupling) posterior (Dinh et al. 2017)."""
    return flow_vae(RealNVPFlow, latent_dim, hidden_units, flows, coupling_units,
                    context_dim, input_shape, learning_rate, likelihood, activation)


@register("linnf_vae", space=LINNF_SPACE)
def linnf_vae(latent_dim: PositiveInt = 32, hidden_units: Widths = (512, 256),
              flow: one_of(*PER_EXAMPLE_FLOWS) = "planar", flows: PositiveInt = 16,
              context_dim: PositiveInt = 32, input_shape: ImageShape = (28, 28, 1),
              learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli",
              activation: networks.Activation = "relu"):
    """mlp_vae with planar or radial flow steps per example (Rezende & Mohamed 2015)."""
    return flow_vae(PER_EXAMPLE_FLOWS[flow], latent_dim, hidden_units, flows, (),
                    context_dim, input_shape, learning_rate, likelihood, activation)
