"""rlviz's gradient clipping gives what torch.nn.utils.clip_grad_norm_ gives."""

import pytest
import torch

from rlviz.agents.optim import clip_grad_norm


@pytest.mark.parametrize("max_norm", [0.5, 1e6])  # clipped, and left alone
def test_clip_grad_norm_matches_torch(max_norm):
    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(8, 4), torch.nn.Linear(8, 4)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(16, 8)
    for network in (ours, theirs):
        network(x).pow(2).sum().backward()
    norm = clip_grad_norm(list(ours.parameters()), max_norm)
    expected = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm)
    assert norm == pytest.approx(expected.item(), rel=1e-6)
    for mine, reference in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(mine.grad, reference.grad)
    clipped_norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in ours.parameters()])).item()
    assert clipped_norm == pytest.approx(min(norm, max_norm), rel=1e-5)
