"""Training and inference modes: fitorch never overrides a mode the user chose.

A PyTorch user freezes part of a model by putting it in eval mode (a pretrained
backbone whose BatchNorm must keep its running statistics). `fit` trains the
modules that were in training mode when it started and leaves the others in eval
mode; evaluation and prediction run everything in eval mode; at the end of
`fit`, `evaluate`, `predict` and the `*_on_batch` calls every module has the mode
it had before (SPEC.md, "Models").

A model that is entirely in eval mode when `fit` starts (after a hand-written
evaluation, say) trains as a whole, as Keras would: freezing is a choice about
a part of the model, never all of it. A batch norm set `trainable = False` (or
inside a layer or model that is) runs in inference mode in `fit`, as in Keras 3.

Example:
    >>> modes = ModuleModes(model)   # backbone.eval() was called by the user
    >>> modes.train()                # the head trains, the backbone stays in eval mode
    >>> modes.restore()              # every module back to its own mode
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from torch import nn


class ModuleModes:
    """Each submodule's mode at construction time; `train()` / `eval()` / `restore()`."""

    __slots__ = ("_flags", "_frozen", "model")

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._flags, frozen_batch_norms = _snapshot(model)
        frozen = [m for m, training in self._flags if not training]
        self._frozen = ([] if len(frozen) == len(self._flags) else frozen) + frozen_batch_norms

    @property
    def frozen(self) -> list[nn.Module]:
        """The modules kept in eval mode while training."""
        return list(self._frozen)

    def train(self) -> None:
        """Training mode for the modules that were training; the others stay in eval mode."""
        self.model.train()
        for module in self._frozen:
            module.training = False

    def eval(self) -> None:
        """Inference mode for every module."""
        self.model.eval()

    def restore(self) -> None:
        """Every module back to the mode it had when this snapshot was taken."""
        for module, training in self._flags:
            if module.training is not training:  # most are unchanged: skip __setattr__
                module.training = training


def _is_batch_norm(module: nn.Module) -> bool:
    from fitorch.layers.normalization import BatchNormalization

    return isinstance(module, (BatchNormalization, nn.modules.batchnorm._NormBase))


def _snapshot(model: nn.Module) -> tuple[list[tuple[nn.Module, bool]], list[nn.Module]]:
    """In one walk: every module's mode, and the batch norms set `trainable = False` or
    inside a layer or model that is (they run in inference mode in `fit`, Keras 3's rule
    for fine-tuning)."""
    from fitorch.layers.layer_api import is_frozen

    flags: list[tuple[nn.Module, bool]] = []
    frozen_batch_norms: list[nn.Module] = []

    def visit(module: nn.Module, frozen: bool) -> None:
        flags.append((module, module.training))
        frozen = frozen or is_frozen(module)
        if frozen and _is_batch_norm(module):
            frozen_batch_norms.append(module)
        for child in module._modules.values():
            if child is not None:
                visit(child, frozen)

    visit(model, False)
    return flags, frozen_batch_norms


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Inference mode for a block; every submodule gets its own flag back afterwards.

    (`model.train(was_training)` would also flip submodules the user had put in eval
    mode, such as frozen batch norms.)

    Example:
        >>> with eval_mode(model), torch.no_grad():
        ...     model(sample)
    """
    modes = ModuleModes(model)
    model.eval()
    try:
        yield
    finally:
        modes.restore()


@contextlib.contextmanager
def call_mode(model: nn.Module, training: bool) -> Iterator[None]:
    """Keras's `model(x, training=...)`: one call in training or inference mode, every
    module's own mode back afterwards (frozen parts stay frozen in training mode).

    Example:
        >>> with call_mode(model, training=False):
        ...     y = model(x)
    """
    modes = ModuleModes(model)
    if training:
        modes.train()
    else:
        modes.eval()
    try:
        yield
    finally:
        modes.restore()


_example = threading.local()


@contextlib.contextmanager
def example_run() -> Iterator[None]:
    """Mark the module calls inside as a shape-finding run on example inputs (building a
    model, recording a functional call, `summary()`): layers that keep state across
    calls (stateful RNNs) neither read nor update it then (`in_example_run()`).

    Example:
        >>> with eval_mode(model), torch.no_grad(), example_run():
        ...     model(sample)
    """
    before = getattr(_example, "active", False)
    _example.active = True
    try:
        yield
    finally:
        _example.active = before


def in_example_run() -> bool:
    """Whether the calls now running are a shape-finding run (see `example_run`)."""
    return bool(getattr(_example, "active", False))


__all__ = ["ModuleModes", "call_mode", "eval_mode", "example_run", "in_example_run"]
