"""Keras's core layers as plain `torch.nn.Module`s: Dense, Dropout, Flatten, Activation.

They take Keras's arguments and defaults, hold their parameters in PyTorch's
layout and names (`weight` is `(units, in_features)`), and work on
channels-first data. `Dense` infers its input size from the first input, the
way Keras builds a layer, through torch's lazy-module machinery.

Example:
    >>> import torch
    >>> from fitorch.layers import Dense, Dropout
    >>> model = torch.nn.Sequential(Dense(16, activation="relu"), Dropout(0.2), Dense(1))
    >>> model(torch.randn(8, 5)).shape
    torch.Size([8, 1])
"""

from __future__ import annotations

import collections
import math
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

from fitorch import activations, constraints, initializers, regularizers
from fitorch.layers.layer_api import LayerAPI

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "auto_name"]

# --- naming -----------------------------------------------------------------

_name_counts: collections.Counter[str] = collections.Counter()
_name_lock = threading.Lock()


def _snake_case(name: str) -> str:
    """Keras's `to_snake_case`: `"Conv2D"` -> `"conv2d"`, `"GlobalMaxPooling1D"` ->
    `"global_max_pooling1d"` (a digit does not start a new word)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def auto_name(prefix: str) -> str:
    """Return a process-unique layer name: `"dense"`, then `"dense_1"`, ... as Keras does.

    Example:
        >>> auto_name("MyBlock").startswith("my_block")
        True
        >>> auto_name("MaxPooling2D").startswith("max_pooling2d")
        True
    """
    prefix = _snake_case(prefix)
    with _name_lock:
        count = _name_counts[prefix]
        _name_counts[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def _resolve_name(name: str | None, cls: type) -> str:
    if name is None:
        return auto_name(cls.__name__)
    if not isinstance(name, str) or "/" in name:
        raise ValueError(
            "Argument `name` must be a string and cannot contain character `/`. "
            f"Received: name={name!r} (of type {type(name).__name__})"
        )
    return name


# --- initializers -------------------------------------------------------------


def _get_initializer(identifier: Any) -> initializers.Initializer | Callable[..., Any]:
    init = initializers.get(identifier)
    # Keras's add_weight falls back to glorot_uniform when given None.
    return init if init is not None else initializers.GlorotUniform()


# --- Keras weights (shared by every fitorch layer) ----------------------------------


def _to_numpy(tensor: Tensor) -> np.ndarray:
    """A NumPy copy (never a view: callers may change it without touching the layer)."""
    tensor = tensor.detach()
    if tensor.dtype in (torch.bfloat16, torch.float16):
        tensor = tensor.float()  # bfloat16 has no NumPy dtype
    return tensor.to("cpu", copy=True).numpy()


def _check_keras_weights(
    layer_name: str, weights: Sequence[Any], expected: Sequence[tuple[str, tuple[int, ...]]]
) -> list[np.ndarray]:
    """Return `weights` as arrays after checking their count and shapes against Keras's.

    `expected` lists `(keras_name, shape)` in Keras's variable order.
    """
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise TypeError(
            f'Layer "{layer_name}" expects a list of {len(expected)} NumPy arrays. '
            f"Received: weights={weights!r} (of type {type(weights).__name__})"
        )
    if len(weights) != len(expected):
        names = ", ".join(name for name, _ in expected)
        raise ValueError(
            f'Layer "{layer_name}" expects {len(expected)} weights ({names}), but it received '
            f"{len(weights)}. Received: weights=<list of length {len(weights)}> "
            f"(of type {type(weights).__name__})"
        )
    arrays = []
    for i, ((name, shape), value) in enumerate(zip(expected, weights)):
        array = np.asarray(value)
        if tuple(array.shape) != tuple(shape):
            raise ValueError(
                f'Layer "{layer_name}" weight "{name}" has shape {tuple(shape)} in Keras\'s '
                f"layout, but the value received has shape {tuple(array.shape)}. "
                f"Received: weights[{i}].shape={tuple(array.shape)} "
                f"(of type {type(value).__name__})"
            )
        arrays.append(array)
    return arrays


def _first_shape(layer_name: str, weights: Any) -> tuple[int, ...] | None:
    """Shape of the first of `weights` (a list of arrays), to build a lazy layer from."""
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence):
        raise TypeError(
            f'Layer "{layer_name}" expects its weights as a list of NumPy arrays. '
            f"Received: weights={weights!r} (of type {type(weights).__name__})"
        )
    return tuple(int(d) for d in np.shape(weights[0])) if len(weights) else None


def _assign(target: Tensor, value: np.ndarray) -> None:
    """Copy a NumPy array into a parameter or buffer (any device, the target's dtype)."""
    with torch.no_grad():
        target.copy_(torch.as_tensor(np.ascontiguousarray(value), dtype=target.dtype))


def _require_built(layer: nn.Module, built: bool, what: str) -> None:
    if not built:
        name = getattr(layer, "name", type(layer).__name__)
        raise ValueError(
            f'Layer "{name}" has no weights yet: their sizes come from the first input. '
            f"Call the layer (or the model) on data, or call `build()`, before `{what}`. "
            f"Received: layer={type(layer).__name__} (not built)"
        )


def _keras_param_counts(module: nn.Module, keras_buffers: Sequence[Tensor] = ()) -> tuple[int, int]:
    """`(trainable, non_trainable)` as Keras counts them.

    Parameters count as trainable when they require grad; `keras_buffers` are
    buffers that Keras keeps as non-trainable variables (batch norm's moving
    statistics).
    """
    trainable = non_trainable = 0
    for p in module.parameters(recurse=False):
        if isinstance(p, UninitializedParameter):
            continue
        if p.requires_grad:
            trainable += p.numel()
        else:
            non_trainable += p.numel()
    non_trainable += sum(b.numel() for b in keras_buffers)
    return trainable, non_trainable


def _penalties(pairs: Sequence[tuple[Any, Tensor | None]]) -> list[Tensor]:
    """Penalties of `(regularizer, parameter)` pairs, for trainable parameters only (Keras)."""
    return [
        reg(p) for reg, p in pairs if reg is not None and p is not None and p.requires_grad
    ]


def _project(pairs: Sequence[tuple[Any, Tensor | None]], keras_layout: bool = False) -> None:
    """Apply `(constraint, parameter)` pairs in place.

    Constraints take parameters in PyTorch's `(out, in, *kernel)` layout (see
    `fitorch.constraints`); a parameter stored in Keras's `(*kernel, in, out)`
    layout (`keras_layout=True`, e.g. an embedding table) is passed as a
    PyTorch-layout view and the result permuted back.
    """
    with torch.no_grad():
        for constraint, p in pairs:
            if constraint is None or p is None:
                continue
            if keras_layout and p.ndim >= 2:
                order = (p.ndim - 1, p.ndim - 2, *range(p.ndim - 2))
                inverse = tuple(sorted(range(p.ndim), key=order.__getitem__))
                p.copy_(constraint(p.permute(order)).permute(inverse))
            else:
                p.copy_(constraint(p))


class _NoWeights:
    """Keras-weights methods of a layer without variables (pooling, reshaping)."""

    name: str

    def get_keras_weights(self) -> list[np.ndarray]:
        """Always `[]`: Keras's layer has no variables."""
        return []

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Accept `[]` only (Keras's layer has no variables)."""
        _check_keras_weights(self.name, weights, [])

    def keras_param_counts(self) -> tuple[int, int]:
        """Always `(0, 0)`."""
        return 0, 0


# --- layers -------------------------------------------------------------------


class _KernelOptions:
    """The activation, initializer, regularizer and constraint options of a kernel+bias layer
    (Dense, Conv), resolved from Keras's identifiers by `_set_kernel_options`."""

    activation: Callable[..., Any]
    _activation_fn: Callable[..., Any] | None
    use_bias: bool
    kernel_initializer: Any
    bias_initializer: Any
    kernel_regularizer: Any
    bias_regularizer: Any
    activity_regularizer: Any
    kernel_constraint: Any
    bias_constraint: Any

    def _set_kernel_options(
        self, activation: Any, use_bias: Any, kernel_initializer: Any, bias_initializer: Any,
        kernel_regularizer: Any, bias_regularizer: Any, activity_regularizer: Any,
        kernel_constraint: Any, bias_constraint: Any,
    ) -> None:
        self.activation = activations.get(activation)
        # Skipping the identity call keeps the linear case to a single F.linear / F.conv.
        self._activation_fn = None if self.activation is activations.linear else self.activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _get_initializer(kernel_initializer)
        self.bias_initializer = _get_initializer(bias_initializer)
        self.kernel_regularizer = regularizers.get(
            kernel_regularizer, arg_name="kernel_regularizer")
        self.bias_regularizer = regularizers.get(bias_regularizer, arg_name="bias_regularizer")
        self.activity_regularizer = regularizers.get(
            activity_regularizer, arg_name="activity_regularizer"
        )
        self.kernel_constraint = constraints.get(kernel_constraint, arg_name="kernel_constraint")
        self.bias_constraint = constraints.get(bias_constraint, arg_name="bias_constraint")


class Dense(LayerAPI, _KernelOptions, LazyModuleMixin, nn.Module):
    """Keras's densely-connected layer: `activation(inputs @ weight.T + bias)`.

    Applies to the last axis of inputs of any rank >= 2. The input size is
    taken from the first input (or from `input_dim`, which creates the
    parameters at once); parameters are then initialised with the Keras
    initializers, using the fans of Keras's `(in, out)` kernel.

    Like any lazy module, move it (`.to(...)`) before the first input and
    create the optimizer after it.

    Example:
        >>> layer = Dense(4, activation="relu")
        >>> layer(torch.randn(2, 3, 7)).shape
        torch.Size([2, 3, 4])
        >>> layer.weight.shape
        torch.Size([4, 7])
    """

    supports_masking = True  # the input's Keras mask is handed on (Keras)

    weight: nn.Parameter
    bias: nn.Parameter | None

    def __init__(
        self,
        units: int,
        activation: str | Callable[..., Any] | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        name: str | None = None,
        input_dim: int | None = None,
    ) -> None:
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                "Received an invalid value for `units`, expected a positive integer. "
                f"Received: units={units!r} (of type {type(units).__name__})"
            )
        if input_dim is not None and (
            isinstance(input_dim, bool) or not isinstance(input_dim, int) or input_dim <= 0
        ):
            raise ValueError(
                "Received an invalid value for `input_dim`, expected a positive integer "
                f"or None. Received: input_dim={input_dim!r} (of type {type(input_dim).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.units = units
        self._set_kernel_options(
            activation, use_bias, kernel_initializer, bias_initializer,
            kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
            bias_constraint,
        )
        self.input_dim = input_dim
        self._activity_loss: Tensor | None = None

        self.in_features = 0
        self.weight = cast(nn.Parameter, UninitializedParameter())
        if self.use_bias:
            self.bias = cast(nn.Parameter, UninitializedParameter())
        else:
            self.register_parameter("bias", None)
        if input_dim is not None:
            self.build((None, input_dim))
            # Nothing left to infer: drop the lazy hooks so calls skip them.
            self._initialize_hook.remove()
            self._load_hook.remove()
            del self._initialize_hook
            del self._load_hook

    @property
    def built(self) -> bool:
        """Whether the parameters exist (after `build`, the first call, or `input_dim`)."""
        return not self.has_uninitialized_params()

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create and initialise the parameters for inputs of `input_shape` (Keras's `build`).

        Example:
            >>> layer = Dense(3)
            >>> layer.build((None, 5))
            >>> layer.weight.shape
            torch.Size([3, 5])
        """
        if not self.has_uninitialized_params():
            return
        in_features = input_shape[-1] if len(input_shape) >= 2 else None
        if not isinstance(in_features, int) or in_features <= 0:
            raise ValueError(
                "A Dense layer needs inputs of rank >= 2 with a known, positive last "
                f"dimension. Received: input_shape={tuple(input_shape)} "
                f"(of type {type(input_shape).__name__})"
            )
        # inference_mode(False): parameters created during an inference-mode
        # first call must stay ordinary tensors, usable for training later.
        with torch.inference_mode(False), torch.no_grad():
            self.in_features = in_features
            cast(UninitializedParameter, self.weight).materialize((self.units, in_features))
            initializers.apply_initializer(
                self.kernel_initializer, self.weight, fan_in=in_features, fan_out=self.units
            )
            if self.bias is not None:
                cast(UninitializedParameter, self.bias).materialize((self.units,))
                # Keras's fans for a (units,) vector are (units, units).
                initializers.apply_initializer(
                    self.bias_initializer, self.bias, fan_in=self.units, fan_out=self.units
                )

    def initialize_parameters(self, inputs: Tensor, *args: Any, **kwargs: Any) -> None:
        """Lazy-module hook: build from the first input's shape."""
        if self.has_uninitialized_params():
            self.build(tuple(inputs.shape))
        else:  # materialised by load_state_dict before any call
            self.in_features = self.weight.shape[1]

    def forward(self, inputs: Tensor) -> Tensor:
        if inputs.ndim < 2 or inputs.shape[-1] != self.in_features:
            raise ValueError(
                f'Input of layer "{self.name}" is incompatible with the layer: expected '
                f"rank >= 2 and last axis of size {self.in_features}. "
                f"Received: inputs.shape={tuple(inputs.shape)} (of type {type(inputs).__name__})"
            )
        outputs = F.linear(inputs, self.weight, self.bias)
        if self._activation_fn is not None:
            outputs = self._activation_fn(outputs)
        if self.activity_regularizer is not None:
            penalty = self.activity_regularizer(outputs)
            # Keras divides by the batch size (0 for an empty batch: divide_no_nan).
            batch = outputs.shape[0]
            self._activity_loss = penalty / batch if batch else penalty * 0
        return outputs

    def regularization_losses(self) -> list[Tensor]:
        """Penalties of this layer, in Keras's `layer.losses` order.

        The activity penalty of the last forward comes first, then the kernel
        and bias penalties (computed now, for trainable parameters only).

        Example:
            >>> layer = Dense(2, kernel_regularizer="l2", input_dim=3)
            >>> len(layer.regularization_losses())
            1
        """
        losses: list[Tensor] = []
        if self._activity_loss is not None:
            losses.append(self._activity_loss)
        if not self.built:
            return losses
        if self.kernel_regularizer is not None and self.weight.requires_grad:
            losses.append(self.kernel_regularizer(self.weight))
        bias = self.bias
        if self.bias_regularizer is not None and bias is not None and bias.requires_grad:
            losses.append(self.bias_regularizer(bias))
        return losses

    def apply_constraints(self) -> None:
        """Project the parameters with their constraints (call after each optimizer step).

        Example:
            >>> layer = Dense(2, kernel_constraint="non_neg", input_dim=3)
            >>> layer.apply_constraints()
            >>> bool((layer.weight >= 0).all())
            True
        """
        if not self.built:
            return
        with torch.no_grad():
            if self.kernel_constraint is not None:
                self.weight.copy_(self.kernel_constraint(self.weight))
            if self.bias_constraint is not None and self.bias is not None:
                self.bias.copy_(self.bias_constraint(self.bias))

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments; built-ins are JSON-able (custom callables as is).

        Example:
            >>> Dense(3, name="out").get_config()["kernel_initializer"]
            {'class_name': 'GlorotUniform', 'config': {'seed': None}}
        """
        return {
            "name": self.name,
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "input_dim": self.input_dim,
        }

    def get_keras_weights(self) -> list[np.ndarray]:
        """The weights in Keras's order and layout: `[kernel (in, units), bias (units,)]`.

        Example:
            >>> layer = Dense(2, input_dim=3)
            >>> [w.shape for w in layer.get_keras_weights()]
            [(3, 2), (2,)]
        """
        _require_built(self, self.built, "get_keras_weights()")
        weights = [_to_numpy(self.weight).T.copy()]
        if self.bias is not None:
            weights.append(_to_numpy(self.bias))
        return weights

    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load weights given in Keras's order and layout (builds an unbuilt layer from them).

        Example:
            >>> layer = Dense(2)
            >>> layer.set_keras_weights([np.ones((3, 2)), np.zeros(2)])
            >>> layer.weight.shape
            torch.Size([2, 3])
        """
        first = _first_shape(self.name, weights)
        if not self.built and first is not None and len(first) == 2:
            self.build((None, first[0]))
        _require_built(self, self.built, "set_keras_weights()")
        expected: list[tuple[str, tuple[int, ...]]] = [("kernel", (self.in_features, self.units))]
        if self.bias is not None:
            expected.append(("bias", (self.units,)))
        arrays = _check_keras_weights(self.name, weights, expected)
        _assign(self.weight, arrays[0].T)
        if self.bias is not None:
            _assign(self.bias, arrays[1])

    def keras_param_counts(self) -> tuple[int, int]:
        """`(trainable, non_trainable)` parameter counts, as Keras's `count_params` splits them.

        Example:
            >>> Dense(2, input_dim=3).keras_param_counts()
            (8, 0)
        """
        return _keras_param_counts(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Dense:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        act = activations.serialize(self.activation)
        act_name = act if isinstance(act, str) else type(act).__name__
        return (
            f"name={self.name!r}, units={self.units}, in_features={self.in_features or None}, "
            f"activation={act_name!r}, use_bias={self.use_bias}"
        )


class Dropout(LayerAPI, nn.Module):
    """Keras's Dropout: zeroes inputs with probability `rate` in training mode, scaling
    the rest by `1 / (1 - rate)`; identity in eval mode (`module.eval()`).

    `noise_shape` gives the shape of the binary mask, broadcast over the inputs
    (`None` entries take the input's size), e.g. `(batch, channels, 1, 1)` to drop
    whole channels of channels-first images. A `seed` makes the sequence of
    masks reproducible with a generator of the layer's own.

    Example:
        >>> layer = Dropout(0.5).eval()
        >>> x = torch.ones(2, 3)
        >>> torch.equal(layer(x), x)
        True
    """

    supports_masking = True  # the input's Keras mask is handed on (Keras)

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        seed: int | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(
                "Invalid value received for argument `rate`. Expected a float value in "
                f"[0, 1). Received: rate={rate!r} (of type {type(rate).__name__})"
            )
        if noise_shape is not None:
            if isinstance(noise_shape, str) or not isinstance(noise_shape, Sequence):
                raise ValueError(
                    "Invalid value received for argument `noise_shape`. Expected a tuple or "
                    f"list of integers (or None entries). Received: noise_shape={noise_shape!r} "
                    f"(of type {type(noise_shape).__name__})"
                )
            noise_shape = tuple(noise_shape)
            if not all(d is None or (isinstance(d, int) and d > 0) for d in noise_shape):
                raise ValueError(
                    "Invalid value received for argument `noise_shape`. Expected positive "
                    f"integers or None entries. Received: noise_shape={noise_shape!r} "
                    "(of type tuple)"
                )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                "Argument `seed` must be an int or None. "
                f"Received: seed={seed!r} (of type {type(seed).__name__})"
            )
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.rate = float(rate)
        self.noise_shape = noise_shape
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}

    def forward(self, inputs: Tensor) -> Tensor:
        if not self.training or self.rate == 0.0:
            return inputs
        if self.noise_shape is None and self.seed is None:
            return F.dropout(inputs, self.rate, True)  # fused fast path
        return self._masked(inputs)

    def _masked(self, inputs: Tensor) -> Tensor:
        shape = inputs.shape
        if self.noise_shape is not None:
            if len(self.noise_shape) != inputs.ndim:
                raise ValueError(
                    f"`noise_shape` must have one entry per input axis ({inputs.ndim}). "
                    f"Received: noise_shape={self.noise_shape} for inputs.shape={tuple(shape)} "
                    "(of type tuple)"
                )
            shape = torch.Size(
                s if d is None else d for d, s in zip(self.noise_shape, shape, strict=True)
            )
        generator = None
        if self.seed is not None:
            generator = self._generators.get(inputs.device)
            if generator is None:
                generator = torch.Generator(device=inputs.device).manual_seed(self.seed)
                self._generators[inputs.device] = generator
        keep = 1.0 - self.rate
        mask = torch.empty(shape, dtype=inputs.dtype, device=inputs.device)
        mask.bernoulli_(keep, generator=generator).div_(keep)
        return inputs * mask

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments.

        Example:
            >>> Dropout(0.25, name="drop").get_config()
            {'name': 'drop', 'rate': 0.25, 'noise_shape': None, 'seed': None}
        """
        noise_shape = list(self.noise_shape) if self.noise_shape is not None else None
        return {"name": self.name, "rate": self.rate, "noise_shape": noise_shape, "seed": self.seed}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Dropout:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, rate={self.rate}"


class Flatten(LayerAPI, nn.Module):
    """Flatten every axis but the first: `(batch, ...)` -> `(batch, prod(...))`.

    Inputs are channels-first, so no transpose is needed to match the
    element order of PyTorch models; a `(batch,)` input becomes `(batch, 1)`.

    Example:
        >>> Flatten()(torch.zeros(2, 3, 4)).shape
        torch.Size([2, 12])
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = _resolve_name(name, type(self))

    def forward(self, inputs: Tensor) -> Tensor:
        # Explicit sizes (not -1) so that an empty batch still flattens.
        return inputs.reshape(inputs.shape[0], math.prod(inputs.shape[1:]))

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Flatten:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


class Activation(LayerAPI, nn.Module):
    """Apply an activation function (a Keras name, a callable or None for linear).

    Example:
        >>> Activation("relu")(torch.tensor([-1.0, 2.0]))
        tensor([0., 2.])
    """

    supports_masking = True  # the input's Keras mask is handed on (Keras)

    def __init__(self, activation: str | Callable[..., Any] | None, name: str | None = None):
        super().__init__()
        self.name = _resolve_name(name, type(self))
        self.activation = activations.get(activation)

    def forward(self, inputs: Tensor) -> Tensor:
        return self.activation(inputs)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (a built-in activation as its name)."""
        return {"name": self.name, "activation": activations.serialize(self.activation)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Activation:
        """Create a layer from `get_config()`'s output."""
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, activation={activations.serialize(self.activation)!r}"
