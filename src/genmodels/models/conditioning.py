"""Class conditioning (``model.num_classes``), shared by every network that can take a label: a generator or decoder
reads the label one-hot beside its input (its first linear layer thus learns one embedding per class, as an
``nn.Embedding`` concatenated to z would), an encoder beside its features (Sohn et al. 2015), and a discriminator adds
a projection of the label onto its last features to its score (Miyato & Koyama 2018). A model checks that its networks
and the data agree on the number of classes."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genmodels.errors import ConfigError

# The classes of the datasets whose labels are class indices (a data module without labels has none).
KNOWN_CLASSES = {"mnist": 10, "fashion_mnist": 10}


def label_width(num_classes: int | None) -> int:
    """How many inputs the label adds to a layer: ``num_classes`` (one-hot), 0 for an unconditional network;
    ``ConfigError`` unless null or an integer >= 2."""
    if num_classes is None:
        return 0
    if type(num_classes) is not int or num_classes < 2:
        raise ConfigError(f"model.num_classes must be null (unconditional) or an integer >= 2, got {num_classes!r}")
    return num_classes


def batch_labels(labels: torch.Tensor, num_classes: int | None) -> torch.Tensor | None:
    """A batch's labels (B,) as a model uses them: all of them for a conditional model, none for an unconditional
    one (which ignores them)."""
    return labels if num_classes is not None else None


def with_labels(inputs: torch.Tensor, labels: torch.Tensor | None, num_classes: int | None) -> torch.Tensor:
    """``inputs`` (B, D) with the labels (B,) (integers) one-hot beside them: (B, D + num_classes); unchanged for an
    unconditional network. Labels given to an unconditional network, or none to a conditional one, are a bug."""
    if (labels is None) != (num_classes is None):
        raise ValueError(f"a network with num_classes={num_classes} got {'no ' if labels is None else ''}labels")
    if labels is None:
        return inputs
    return torch.cat([inputs, F.one_hot(labels.long(), num_classes).to(inputs.dtype)], dim=1)  # MNIST's are uint8


def projection(num_classes: int | None, features: int) -> nn.Embedding | None:
    """The class embeddings of a projection discriminator, (num_classes, features), zero at first (it starts as the
    unconditional discriminator); None for an unconditional one."""
    if not label_width(num_classes):
        return None
    embedding = nn.Embedding(num_classes, features)
    nn.init.zeros_(embedding.weight)
    return embedding


def projected_scores(
    net: nn.Sequential, embedding: nn.Embedding | None, x: torch.Tensor, labels: torch.Tensor | None
) -> torch.Tensor:
    """Scores (B,) float32 of a discriminator ``net`` whose last layer is its linear head psi and whose other layers
    give the features phi(x): psi(phi(x)) + <embedding(y), phi(x)> (features flattened), or psi(phi(x)) alone."""
    if (labels is None) != (embedding is None):
        raise ValueError(f"a discriminator with projection={embedding is not None} got labels={labels is not None}")
    if embedding is None:
        return net(x).flatten().float()  # float32 scores for the losses, also under autocast
    features = net[:-1](x)
    scores = net[-1](features).flatten() + (embedding(labels.long()) * features.flatten(start_dim=1)).sum(dim=1)
    return scores.float()


def check_network_classes(num_classes: int | None, networks: dict[str, nn.Module]) -> None:
    """``ConfigError`` unless every network was built for ``model.num_classes`` (its own ``num_classes``)."""
    label_width(num_classes)
    for name, network in networks.items():
        own = getattr(network, "num_classes", None)
        if own != num_classes:
            raise ConfigError(
                f"model.{name}.num_classes={own} but model.num_classes={num_classes}. Fix: leave "
                f"model.{name}.num_classes at its default, ${{model.num_classes}}."
            )


def check_data_classes(model: Any, datamodule: Any) -> None:
    """``ConfigError`` unless a conditional model's ``num_classes`` is the data's number of classes (a data module's
    ``num_classes``, else that of a known dataset); a dataset without labels refuses a conditional model."""
    wanted = getattr(model, "num_classes", None)
    if wanted is None:
        return
    dataset = getattr(datamodule, "dataset", type(datamodule).__name__)
    classes = getattr(datamodule, "num_classes", KNOWN_CLASSES.get(dataset))
    if classes is None:
        raise ConfigError(
            f"model.num_classes={wanted} needs class labels, and data {dataset} has none. Fix: model.num_classes=null."
        )
    if wanted != classes:
        raise ConfigError(
            f"model.num_classes={wanted}, but {dataset} has {classes} classes. Fix: model.num_classes={classes}."
        )
