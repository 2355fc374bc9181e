"""What a run reports: its TensorBoard hyper-parameters, written whatever the machine's load."""

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.helpers import QUICK

# A busy machine: TensorBoard's background writer thread falls behind the training process.
SLOW_EVENT_WRITER = """
import time
from tensorboard.summary.writer import record_writer

write = record_writer.RecordWriter.write

def slow_write(self, data):
    time.sleep(0.1)
    write(self, data)

record_writer.RecordWriter.write = slow_write
"""


def hparams_and_final_metrics(tensorboard_dir) -> tuple[dict, list[str]]:
    events = EventAccumulator(str(tensorboard_dir))
    events.Reload()
    try:
        hparams = events.PluginTagToContent("hparams")
    except KeyError:  # no event of the HParams plugin at all
        hparams = {}
    return hparams, [tag for tag in events.Tags()["scalars"] if tag.startswith("hp/")]


@pytest.mark.slow
def test_every_run_has_its_hparams(run_cli, tmp_path):
    sweep = tmp_path / "sweep"
    run_cli(
        "genmodels.train",
        "-m",
        "seed=1,2,3",
        *[arg for arg in QUICK if arg != "~logger"],
        "latent=2",
        "trainer.max_epochs=1",
        f"hydra.sweep.dir={sweep}",
        prelude=SLOW_EVENT_WRITER,
    )
    for job in ("0", "1", "2"):  # the last one ends with the process, right after logging its hparams
        hparams, final_metrics = hparams_and_final_metrics(sweep / job / "tensorboard")
        assert "_hparams_/session_start_info" in hparams, f"job {job} has no HParams entry"
        assert "hp/test_neg_elbo" in final_metrics
