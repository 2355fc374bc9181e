"""genmodels: config-driven experiments with VAEs and GANs on MNIST-like data."""

import os

# Idle OpenMP threads sleep instead of spinning. With spinning threads, one other busy process on the
# machine slowed a two-thread CPU run several-fold (README, "First steps"). It takes effect when genmodels
# is imported before torch, as in every `python -m genmodels.<command>`; an OMP_WAIT_POLICY of your own wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
