"""Each default preset really learns: it solves CartPole-v1 within its step budget on a fixed seed.

Solved = the mean return of the last 100 training episodes reaches 475. bench/solve.py runs the
same check over more seeds.
"""

import pytest

from rlviz.config import make_config
from rlviz.trainer import Finished, train

# algo: (step budget from the issue, the fixed seed the test runs)
BUDGETS = {
    "a2c-1step": (400_000, 0),
    "nstep-ac": (400_000, 0),
    "td-ac": (400_000, 0),
    "dqn": (200_000, 0),
    "a2c": (300_000, 0),
    "ppo": (100_000, 0),
}


@pytest.mark.parametrize("algo", list(BUDGETS))
def test_default_preset_solves_cartpole(algo):
    budget, seed = BUDGETS[algo]
    config = make_config(algo, "CartPole-v1", seed=seed, stop_when_solved=True, eval_episodes=10)
    assert config.total_steps <= budget, "the preset's own budget must fit the issue's"
    finished = [event for event in train(config) if isinstance(event, Finished)][0]
    assert finished.solved_at_step is not None, f"not solved: last-100 mean {finished.final_mean_return:.1f}"
    assert finished.solved_at_step <= budget
    assert finished.final_mean_return >= 475
    # The greedy policy, without exploration noise, is at least as good as the training episodes.
    assert finished.eval_mean_return >= 400
