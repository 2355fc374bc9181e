"""Evaluation metrics as pure functions on tensors: likelihood bounds, Fréchet distance, sample quality.

One concept per module:

- ``likelihood``: the negative ELBO and the importance-weighted (IWAE) estimate of -log p(x).
- ``frechet``: the Fréchet distance between the Gaussians fitted to two feature sets.
- ``sample_quality``: Inception Score, class coverage, precision and recall (k-NN manifolds).
- ``classifier``: the small MNIST CNN whose features and class probabilities the above use.
- ``inception``: the opt-in standard InceptionV3 feature extractor for the usual FID.
"""
