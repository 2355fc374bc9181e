"""Run folders and checkpoints of earlier versions, read in today's layout.

Before the VAE took its encoder and decoder by config, each VAE was a class that built its own networks from a few
options (``genmodels.models.vae.VAE`` and, earlier, ``genmodels.vae.VAE`` with ``hidden_dims``;
``genmodels.models.conv_vae.ConvVAE`` with ``channels``). Their networks had the same layers under the same names
(``encoder.*``, ``decoder.*``), so a checkpoint's weights load as they are; only the model config, the saved
overrides and the hyper-parameters a checkpoint records are translated here.

Before the GAN took its objective by config (``model.objective``), the cross-entropy's options were the GAN's own
(``model.label_smoothing``, ...); they move into the objective.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from hydra.utils import instantiate

from genmodels.errors import CheckpointError
from genmodels.models.networks import describe
from genmodels.models.objectives import CrossEntropy

VAE = "genmodels.models.vae.VAE"
# Old model class -> (the module and prefix of today's networks, the old option naming their widths, today's name).
OLD_VAES = {
    "genmodels.vae.VAE": ("genmodels.models.vae_mlp.MLP", "hidden_dims", "hidden_dims"),
    "genmodels.models.vae.VAE": ("genmodels.models.vae_mlp.MLP", "hidden_dims", "hidden_dims"),
    "genmodels.models.conv_vae.ConvVAE": ("genmodels.models.conv_vae.Conv", "channels", "widths"),
}
NETWORK_OPTIONS = ("latent_dim", "image_size")  # passed to both networks, as the old classes did
# Command-line keys of the old VAEs -> today's (the decoder's widths follow the encoder's in the model configs).
OLD_KEYS = {"model.hidden_dims": "model.encoder.hidden_dims", "model.channels": "model.encoder.widths"}
GAN_OBJECTIVE_OPTIONS = ("non_saturating", "label_smoothing", "label_flip_prob", "real_label_range")  # the old GAN's
OLD_KEYS |= {f"model.{key}": f"model.objective.{key}" for key in GAN_OBJECTIVE_OPTIONS}


def with_objective(options: Mapping[str, Any], key: str) -> dict[str, Any]:
    """An old GAN's options with its cross-entropy's moved into ``objective`` (``key``: ``"_target_"`` in a model
    config, ``"class"`` in hyper-parameters, as today's ``GAN`` records it); any others as they are."""
    moved = {name: options[name] for name in GAN_OBJECTIVE_OPTIONS if name in options}
    if not moved or "objective" in options:
        return dict(options)
    objective = CrossEntropy(**moved).describe()  # what a run of today records of the same options
    return {
        **{k: v for k, v in options.items() if k not in moved},
        "objective": {key: objective.pop("class"), **objective},
    }


def is_old_vae(model: Mapping[str, Any]) -> bool:
    """Whether a model config names a VAE class of the old layout (options, no injected networks)."""
    return model.get("_target_") in OLD_VAES and "encoder" not in model


def upgrade_model_config(model: Mapping[str, Any]) -> dict[str, Any]:
    """A model config in today's layout: an old VAE's becomes the ``VAE`` with its networks' configs (values and
    interpolations such as ``${latent}`` kept), an old GAN's gets its objective; any other is returned as it is."""
    model = dict(model)
    if not is_old_vae(model):
        return with_objective(model, "_target_")
    prefix, old_key, new_key = OLD_VAES[model.pop("_target_")]
    network = {key: model[key] for key in NETWORK_OPTIONS if key in model}  # absent: the same default as before
    if old_key in model:
        network[new_key] = model.pop(old_key)
    model.pop("image_size", None)
    return {
        "_target_": VAE,
        **model,
        "encoder": {"_target_": f"{prefix}Encoder", **network},
        "decoder": {"_target_": f"{prefix}Decoder", **network},
    }


def upgrade_overrides(overrides: list[str]) -> list[str]:
    """Saved command-line overrides with the old VAEs' keys renamed (``model.hidden_dims.0=256`` ->
    ``model.encoder.hidden_dims.0=256``)."""
    pattern = re.compile(r"^([+~]*)(" + "|".join(re.escape(key) for key in OLD_KEYS) + r")(?=[.=]|$)")
    return [pattern.sub(lambda m: m.group(1) + OLD_KEYS[m.group(2)], override) for override in overrides]


def upgrade_hparams(saved: Mapping[str, Any], source: str) -> dict[str, Any]:
    """The hyper-parameters an old VAE checkpoint (``source``) recorded, as today's ``VAE`` records them (its
    networks' class and size, computed by building them on the meta device: no memory, no random draws); an old
    GAN's with its objective; others as they are. Only sizes are read from the checkpoint: anything else there is
    a ``CheckpointError``, never a config Hydra would build."""
    saved = dict(saved)
    if "beta" in saved:  # only a VAE has beta; one from before model.likelihood used the Bernoulli
        saved.setdefault("likelihood", "bernoulli")
    if "beta" not in saved or "encoder" in saved:  # today's VAE records its encoder
        return with_objective(saved, "class")
    old_class = "genmodels.models.conv_vae.ConvVAE" if "channels" in saved else VAE
    fix = "Fix: pass a checkpoint of a genmodels training run."
    sizes = {key: saved[key] for key in (*NETWORK_OPTIONS, OLD_VAES[old_class][1]) if key in saved}
    for key, value in sizes.items():
        if not _sizes(value):
            raise CheckpointError(
                f"{source} records the model option {key}={value!r}, not a size or a list of sizes: it was not "
                f"written by genmodels. {fix}"
            )
    config = upgrade_model_config({"_target_": old_class, **sizes})  # our classes, the checked sizes, nothing else
    try:
        with torch.device("meta"):
            networks = {name: describe(instantiate(config[name], _convert_="all")) for name in ("encoder", "decoder")}
    except Exception as exc:  # e.g. a negative size: the networks refuse it
        cause = exc.__cause__ or exc
        raise CheckpointError(
            f"{source} records model sizes its networks refuse ({type(cause).__name__}: {cause}). {fix}"
        ) from None
    kept = ("latent_dim", "beta", "iwae_k", "likelihood")
    return {key: value for key, value in saved.items() if key in kept} | networks


def _sizes(value: Any) -> bool:
    """Whether ``value`` is a whole number or a list of them (a network's size as a checkpoint records it)."""
    values = value if isinstance(value, list | tuple) else [value]
    return all(isinstance(item, int) and not isinstance(item, bool) for item in values)
