"""Each default preset really learns: it solves CartPole-v1 within its step budget on a fixed seed.

Solved = the mean return of the last 100 training episodes reaches 475. The presets stop there
(stop when solved is on by default), so each test lasts as long as a student's default run.
bench/solve.py runs the same check over more seeds, ones the presets were not tuned on.
"""

import pytest

from rlviz.config import make_config
from rlviz.trainer import Finished, train

# algo: the most env steps its preset may take on CartPole (the budgets; ppo's fast settings need 150k
# on some seeds to climb past a plateau near 450, bench/RESULTS.md)
BUDGETS = {"a2c-1step": 400_000, "nstep-ac": 400_000, "td-ac": 400_000, "dqn": 200_000, "a2c": 400_000, "ppo": 150_000}
SEED = 0


@pytest.mark.parametrize("algo", list(BUDGETS))
def test_default_preset_solves_cartpole(algo):
    config = make_config(algo, "CartPole-v1", seed=SEED)
    assert config.stop_when_solved and config.eval_episodes == 10, "the test runs the default run a student gets"
    assert config.total_steps <= BUDGETS[algo], "the preset's own budget must fit the issue's"
    finished = [event for event in train(config) if isinstance(event, Finished)][0]
    assert finished.solved_at_step is not None, f"not solved: last-100 mean {finished.final_mean_return:.1f}"
    assert finished.env_steps == finished.solved_at_step, "a solved run stops at once"
    assert finished.final_mean_return >= 475
    # The greedy policy, without exploration noise, is as good as the training episodes.
    assert finished.eval_mean_return >= 475
