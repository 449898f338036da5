"""The replay buffer keeps the valid rows of each vector step, newest over oldest."""

import numpy as np

from rlviz.buffers import ReplayBuffer, Transition


def vector_step(first: int, valid: list[bool]) -> Transition:
    """A step of len(valid) envs whose row i holds the number first + i everywhere."""
    numbers = np.arange(first, first + len(valid), dtype=np.float32)
    return Transition(numbers[:, None].repeat(2, axis=1), numbers.astype(np.int64), numbers, numbers[:, None].repeat(2, axis=1) + 0.5,
                      numbers % 2 == 0, np.zeros(len(valid), dtype=bool), np.array(valid))


def test_the_ring_buffer_stores_only_valid_rows_and_overwrites_the_oldest():
    buffer = ReplayBuffer(capacity=5, obs_dim=2, rng=np.random.default_rng(0))
    buffer.add(vector_step(0, [True, False, True]))  # 0 and 2; row 1 is an autoreset step
    assert (buffer.size, buffer.position) == (2, 2)
    buffer.add(vector_step(10, [True, True, True, True]))  # 10..13: two fit, two wrap onto 0 and 2
    assert (buffer.size, buffer.position) == (5, 1)
    assert buffer.actions.tolist() == [13, 2, 10, 11, 12]
    assert buffer.obs[:, 0].tolist() == [13, 2, 10, 11, 12] and buffer.next_obs[0, 1] == 13.5
    assert buffer.terminated.tolist() == [0, 1, 1, 0, 1]  # even numbers end their episode
    batch = buffer.sample(64)
    assert set(batch.actions.tolist()) <= {13, 2, 10, 11, 12}
    assert np.array_equal(batch.obs[:, 0].numpy(), batch.actions.numpy().astype(np.float32))
