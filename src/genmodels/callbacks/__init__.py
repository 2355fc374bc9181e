"""Lightning callbacks: the report's figures (for any model offering ``generate(z)``), run safety and progress."""

from genmodels.callbacks.best_checkpoint import BestEpochCheckpoint
from genmodels.callbacks.curves import MetricCurves
from genmodels.callbacks.fit_record import FitRecord
from genmodels.callbacks.latent import LatentInterpolation, LatentManifold, LatentScatter
from genmodels.callbacks.progress import CostEstimate, EpochProgressBar
from genmodels.callbacks.safety import FiniteLossGuard, InterruptCheckpoint, LastEpochCheckpoint
from genmodels.callbacks.sample_quality import SampleQualityMonitor
from genmodels.callbacks.samples import ClassAnalogies, ReconstructionGrid, SampleGrid
from genmodels.callbacks.seeding import EpochSeeding

__all__ = [
    "BestEpochCheckpoint",
    "ClassAnalogies",
    "CostEstimate",
    "EpochProgressBar",
    "EpochSeeding",
    "FiniteLossGuard",
    "FitRecord",
    "InterruptCheckpoint",
    "LastEpochCheckpoint",
    "LatentInterpolation",
    "LatentManifold",
    "LatentScatter",
    "MetricCurves",
    "ReconstructionGrid",
    "SampleGrid",
    "SampleQualityMonitor",
]
