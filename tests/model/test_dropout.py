"""The CPU dropout: drop rate, unbiasedness, gradient, and torch's semantics elsewhere."""

import torch

from speechssl.model.dropout import Dropout, dropout, keep_mask


def test_keep_mask_has_the_requested_rate_and_independent_elements():
    torch.manual_seed(0)
    keep, keep_rate = keep_mask((400, 1000), 0.1, "cpu")
    assert abs(keep_rate - 0.9) < 1e-5
    assert abs(keep.float().mean().item() - keep_rate) < 0.003  # 400k draws: sd 0.0005
    # neighbours come from the same 64-bit draw: they must still be uncorrelated
    pairs = keep.view(-1, 4).float()
    assert abs((pairs[:, 0] * pairs[:, 1]).mean().item() - keep_rate**2) < 0.003


def test_dropout_is_unbiased_and_its_gradient_is_the_scaled_mask():
    torch.manual_seed(1)
    x = torch.full((200, 500), 2.0, requires_grad=True)
    y = dropout(x, 0.3)
    kept = y != 0
    assert abs(y.mean().item() - 2.0) < 0.02
    assert torch.allclose(y[kept], torch.full_like(y[kept], 2.0 / (1 - round(0.3 * 65536) / 65536)))
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept)


def test_eval_and_zero_p_are_the_identity_and_the_module_swaps_in_for_nn_dropout():
    x = torch.randn(3, 5)
    module = Dropout(0.5).eval()
    assert module(x) is x and dropout(x, 0.0) is x
    assert isinstance(module, torch.nn.Dropout) and module.p == 0.5
