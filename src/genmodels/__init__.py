"""genmodels: config-driven experiments with VAEs and GANs on MNIST-like data."""

__version__ = "0.1.0"
