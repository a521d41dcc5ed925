"""Keras's functional API: symbolic tensors from `ft.Input`, layer calls recorded into a
graph, and `ft.Model(inputs, outputs)` built from it (a `Functional` model).

Any `torch.nn.Module` can be called on symbolic tensors (fitorch layers, other
models, plain torch modules), as can arithmetic, slicing and `torch` functions;
see `symbolic.py` for how calls are recorded and `graph.py` for the generated
`torch.fx` module.

Example:
    >>> import fitorch as ft
    >>> inputs = ft.Input(shape=(16,))
    >>> hidden = ft.layers.Dense(32, activation="relu")(inputs)
    >>> outputs = ft.layers.Dense(1)(hidden + inputs.sum(dim=1, keepdim=True))
    >>> model = ft.Model(inputs, outputs)
"""

from fitorch.functional.functional_model import Functional
from fitorch.functional.symbolic import SymbolicTensor, is_symbolic

__all__ = ["Functional", "SymbolicTensor", "is_symbolic"]
