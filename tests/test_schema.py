"""The typed config schema: unknown keys and wrong types stop composition, before anything runs."""

import pytest
from hydra.errors import ConfigCompositionException

from tests.helpers import compose_train


@pytest.mark.parametrize(
    "override, message",
    [
        ("latent=2.5", "Value '2.5' of type 'float' could not be converted to Integer"),
        ("speed.channels_last=maybe", "Value 'maybe' is not a valid bool"),
        ("data.batch_size=big", "could not be converted to Integer"),
        ("figures.sample_epochs=[1,two]", "could not be converted to Integer"),
        ("data.batchsize=64", "Key 'batchsize' not in 'MNISTDataConfig'"),
    ],
)
def test_wrong_types_and_unknown_keys_fail_at_composition(tmp_path, override, message):
    with pytest.raises(ConfigCompositionException) as error:
        compose_train([override], tmp_path / "run", tmp_path)
    assert message in f"{error.value} {error.value.__cause__}"
    assert not (tmp_path / "run").exists()


def test_a_group_option_is_merged_onto_the_schema(tmp_path):
    cfg = compose_train(["data=fashion_mnist", "model=dcgan", "debug=tiny"], tmp_path / "run", tmp_path)
    assert cfg.data.dataset == "fashion_mnist" and cfg.data.pixel_range == "symmetric"  # the model file's range
    assert cfg.data.batch_size == 128 and cfg.speed.compile is False  # schema defaults
    assert cfg.trainer.limit_train_batches == 5 and cfg.callbacks.samples is None  # debug=tiny
