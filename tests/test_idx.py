import gzip

import pytest
import torch

from genmodels.data.idx import IDXFormatError, parse_idx, read_idx
from tests.helpers import idx_bytes


def test_images_and_labels_round_trip_in_plain_and_gzip_files(tmp_path):
    labels = torch.tensor([3, 1, 4, 1, 5], dtype=torch.uint8)
    assert torch.equal(parse_idx(idx_bytes(labels)), labels)
    images = torch.randint(0, 256, (2, 28, 28), dtype=torch.uint8)
    assert torch.equal(parse_idx(idx_bytes(images)), images)
    (tmp_path / "a").write_bytes(idx_bytes(images))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(images)))
    assert torch.equal(read_idx(tmp_path / "a"), images)
    assert torch.equal(read_idx(tmp_path / "a.gz"), images)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda raw: b"\x01" + raw[1:], "magic"),
        (lambda raw: raw[:2] + b"\x0d" + raw[3:], "element type"),
        (lambda raw: raw[:-7], "truncated"),
        (lambda raw: raw[:6], "truncated header"),
    ],
)
def test_malformed_files_are_named(mutate, message):
    raw = idx_bytes(torch.zeros(2, 3, 3, dtype=torch.uint8))
    with pytest.raises(IDXFormatError, match=message):
        parse_idx(mutate(raw), source="file.idx")
