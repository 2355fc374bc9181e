"""docs/adding_a_model.md shows the shipped conv VAE and WGAN-GP: its full-file blocks equal the files, its excerpts
are in them."""

import re

from tests.helpers import REPO

GUIDE = REPO / "docs" / "adding_a_model.md"
SHOWN_IN_FULL = {"src/genmodels/models/conv_vae.py", "configs/model/conv_vae.yaml", "tests/test_conv_vae.py"}
SHOWN_IN_FULL |= {"configs/model/wgan_gp.yaml", "configs/model/objective/wgan_gp.yaml"}  # Adding a GAN


def guide_blocks() -> list[tuple[str, str, str]]:
    """(``File`` or ``From``, path, code) of each code block headed **File `path`** or **From `path`**."""
    return re.findall(r"\*\*(File|From) `([^`]+)`\*\*\n\n```\w*\n(.*?)```", GUIDE.read_text(), flags=re.S)


def test_the_guide_shows_the_shipped_files():
    blocks = guide_blocks()
    assert {path for kind, path, _ in blocks if kind == "File"} == SHOWN_IN_FULL
    for kind, path, code in blocks:
        shipped = (REPO / path).read_text()
        if kind == "File":
            assert code == shipped, f"docs/adding_a_model.md: the block of {path} differs from the file"
        else:
            assert code in shipped, f"docs/adding_a_model.md: an excerpt of {path} is not in the file"
