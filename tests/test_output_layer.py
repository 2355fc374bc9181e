"""The convolutional decoders' fast last layer against torch's transposed convolution."""

import pytest
import torch

from genmodels.models.output_layer import OutputConvTranspose2d


@pytest.mark.parametrize(("in_channels", "out_channels", "side"), [(32, 1, 14), (5, 6, 4), (3, 2, 1)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_the_output_layer_computes_torchs_transposed_convolution(in_channels, out_channels, side, channels_last):
    """Values and gradients (input and parameters) of the fast last layer against nn.ConvTranspose2d's, same
    parameters: a checkpoint of either loads into the other."""
    torch.manual_seed(0)
    layer = OutputConvTranspose2d(in_channels, out_channels)
    reference = torch.nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)
    reference.load_state_dict(layer.state_dict())
    h = torch.randn(3, in_channels, side, side, dtype=torch.float64)
    h = h.contiguous(memory_format=torch.channels_last) if channels_last else h
    layer, reference = layer.double(), reference.double()
    torch.testing.assert_close(layer(h), reference(h))
    inputs = [h.clone().requires_grad_() for _ in range(2)]
    weights = torch.linspace(-1, 1, 4 * side * side, dtype=torch.float64).view(2 * side, 2 * side)  # a loss
    for module, x in zip((layer, reference), inputs):
        (module(x) * weights).sum().backward()
    torch.testing.assert_close(inputs[0].grad, inputs[1].grad)
    torch.testing.assert_close(layer.weight.grad, reference.weight.grad)
    torch.testing.assert_close(layer.bias.grad, reference.bias.grad)
