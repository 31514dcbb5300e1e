"""Bad input is rejected before compilation with one readable line naming the field."""
import math

import numpy as np
import pytest

import optbench as ob
from optbench import OptbenchInputError


@pytest.mark.parametrize("make, words", [
    (lambda: ob.optimizer("adamm"), ["unknown optimizer 'adamm'", "did you mean 'adam'", "sgd"]),
    (lambda: ob.problem("rosenbrok"), ["unknown problem 'rosenbrok'", "rosenbrock"]),
    (lambda: ob.optimizer("adam", lr=-1.0), ["optimizer adam.lr", "> 0.0"]),
    (lambda: ob.optimizer("adam", lr=0.0), ["optimizer adam.lr"]),
    (lambda: ob.optimizer("adam", lr=math.nan), ["optimizer adam.lr", "finite"]),
    (lambda: ob.optimizer("adam", lr=math.inf), ["optimizer adam.lr", "finite"]),
    (lambda: ob.optimizer("adam", beta1=1.0), ["optimizer adam.beta1", "< 1.0"]),
    (lambda: ob.optimizer("adam", lr="fast"), ["optimizer adam.lr", "number"]),
    (lambda: ob.optimizer("adam", momentum=0.9), ["unknown parameter 'momentum'", "beta1"]),
    (lambda: ob.optimizer("sgd", nesterov=True), ["nesterov requires momentum > 0"]),
    (lambda: ob.optimizer("adam", clip_norm=-1), ["clip_norm"]),
    (lambda: ob.optimizer("adam", schedule="cosin"), ["unknown schedule 'cosin'", "cosine"]),
    (lambda: ob.optimizer("adam", schedule={"kind": "step", "gamma": -1}), ["schedule step.gamma"]),
    (lambda: ob.problem("rosenbrock", dim=1), ["problem rosenbrock.dim", ">= 2"]),
    (lambda: ob.problem("quadratic", cond=0.5), ["problem quadratic.cond", ">= 1.0"]),
    (lambda: ob.problem("quadratic", dim=2.5), ["problem quadratic.dim", "integer"]),
    (lambda: ob.problem("quadratic", spectrum="flat"), ["unknown problem quadratic.spectrum"]),
    (lambda: ob.run("rosenbrock", "adam", steps=0), ["steps must be >= 1"]),
    (lambda: ob.run("rosenbrock", "adam", x0=[1.0, 2.0, 3.0]), ["x0 must have length 2"]),
    (lambda: ob.run("rosenbrock", "adam", x0=[1.0, np.nan]), ["x0 must be finite"]),
    (lambda: ob.run("rosenbrock", "adam", seed=-1), ["seed must be >= 0"]),
    (lambda: ob.run("rosenbrock", "adam", stop="never"), ["unknown stop 'never'"]),
    (lambda: ob.run("rosenbrock", "adam", targets=[1e-3, -1]), ["targets must be positive"]),
    (lambda: ob.run("rosenbrock", "adam", record="every:0"), ["every:K"]),
    (lambda: ob.run("rosenbrock", "adam", device="tpu"), ["unknown device 'tpu'"]),
])
def test_rejected_with_clear_one_line_message(make, words):
    with pytest.raises(OptbenchInputError) as e:
        make()
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_input_error_is_a_value_error():
    assert issubclass(OptbenchInputError, ValueError)
