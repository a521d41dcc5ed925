"""Keras 3's optimizers as `torch.optim.Optimizer` subclasses.

`SGD`, `Adam`, `AdamW`, `RMSprop`, `Adagrad`, `Adadelta`, `Adamax` and `Nadam`
take Keras 3's argument names and defaults and apply Keras 3's update rules, so
a model trained with them follows the trajectory Keras would. Like in Keras they
can be created before the model exists and bound to its parameters later with
`build()`; once built they are ordinary torch optimizers (`param_groups`,
`state_dict`, `zero_grad`, `step`, torch LR schedulers).

Keras's shared options live in `KerasOptimizer`: decoupled `weight_decay`,
`clipnorm` / `clipvalue` / `global_clipnorm` and an exponential moving average
of the weights (`use_ema`).

Layout: `base` (`KerasOptimizer` and the argument checks), `sgd`, `adam` (Adam,
AdamW, Adamax, Nadam), `rmsprop`, `adagrad` (Adagrad, Adadelta) and `registry`
(`get`, `instantiate`).

Example:
    >>> import torch
    >>> model = torch.nn.Linear(3, 1)
    >>> opt = Adam(learning_rate=1e-3)       # no parameters yet, as in Keras
    >>> opt.build(model.parameters())        # what the training engine does
    >>> model(torch.randn(4, 3)).sum().backward()
    >>> opt.step()
"""

from fitorch.optimizers.adagrad import Adadelta, Adagrad
from fitorch.optimizers.adam import Adam, Adamax, AdamW, Nadam
from fitorch.optimizers.base import KerasOptimizer
from fitorch.optimizers.registry import get, instantiate
from fitorch.optimizers.rmsprop import RMSprop
from fitorch.optimizers.sgd import SGD

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "KerasOptimizer",
    "Nadam",
    "RMSprop",
    "get",
    "instantiate",
]
