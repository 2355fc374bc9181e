"""Lightning callbacks that draw the report's figures for any model offering ``generate(z)``."""

from genmodels.callbacks.curves import MetricCurves
from genmodels.callbacks.latent import LatentInterpolation, LatentManifold, LatentScatter
from genmodels.callbacks.samples import ReconstructionGrid, SampleGrid

__all__ = ["LatentInterpolation", "LatentManifold", "LatentScatter", "MetricCurves", "ReconstructionGrid", "SampleGrid"]
