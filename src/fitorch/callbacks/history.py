"""`History`: the record of every epoch's logs that `fit` returns."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fitorch import distributed
from fitorch.callbacks.callback import Callback

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

_VAL = "val_"


def _to_float(value: Any) -> Any:
    """Python float for numbers, scalar tensors and arrays; anything else unchanged."""
    if isinstance(value, (str, bytes)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return value


class History(Callback):
    """Callback that records the epoch logs; `fit` returns it.

    `history.history` maps each log name (`val_` names included) to its list
    of per-epoch values, `history.epoch` lists the 0-based epochs run by the
    latest `fit`, and `history.params` holds `fit`'s parameters. As in Keras,
    `on_train_begin` resets `epoch` but keeps `history`: a `History` passed to
    two `fit` calls appends the second run's values to the first's.

    Example:
        >>> history = History()
        >>> history.on_train_begin()
        >>> history.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.75})
        >>> history.history
        {'loss': [0.5], 'val_loss': [0.75]}
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []
        # Per name, the epoch of each recorded value (names can skip epochs,
        # e.g. `val_` ones with `validation_freq`).
        self._epochs_of: dict[str, list[int]] = {}

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self.epoch = []

    def state_dict(self) -> dict[str, Any]:
        """The values recorded so far (for `BackupAndRestore`)."""
        return {"history": {k: list(v) for k, v in self.history.items()},
                "epoch": list(self.epoch),
                "epochs_of": {k: list(v) for k, v in self._epochs_of.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = [int(e) for e in state["epoch"]]
        self._epochs_of = {k: [int(e) for e in v] for k, v in state["epochs_of"].items()}

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.epoch.append(epoch)
        for name, value in (logs if logs is not None else {}).items():
            self.history.setdefault(name, []).append(_to_float(value))
            self._epochs_of.setdefault(name, []).append(epoch)
        # Keras also hangs the latest History on the model.
        if self.model is not None:
            self.model.history = self

    # --- views ---------------------------------------------------------------
    def _epochs_for(self, name: str) -> list[int]:
        """0-based epochs of `name`'s values, or their positions when the epochs
        are not known (values filled in by hand) or repeat (a History passed to
        several `fit` calls)."""
        values = self.history[name]
        epochs = self._epochs_of.get(name)
        if epochs is None or len(epochs) != len(values) or len(set(epochs)) != len(epochs):
            return list(range(len(values)))
        return epochs

    def _metric_names(self, keys: str | Sequence[str] | None) -> list[str]:
        if keys is None:
            # One panel per metric: `val_x` joins `x`'s panel.
            names: list[str] = []
            for name in self.history:
                base = name[len(_VAL):] if name.startswith(_VAL) else name
                if base not in names:
                    names.append(base)
            return names
        if isinstance(keys, str):
            keys = [keys]
        elif not isinstance(keys, Sequence) or not all(isinstance(k, str) for k in keys):
            raise TypeError(
                "Expected `keys` to be a metric name or a list of names. "
                f"Received: keys={keys!r} (of type {type(keys).__name__})"
            )
        for key in keys:
            if key not in self.history and _VAL + key not in self.history:
                raise ValueError(
                    f"No recorded values for {key!r}; recorded: {sorted(self.history)}. "
                    f"Received: keys={keys!r} (of type {type(keys).__name__})"
                )
        return list(keys)

    def plot(
        self,
        keys: str | Sequence[str] | None = None,
        path: str | os.PathLike[str] | None = None,
        show: bool = False,
    ) -> Figure:
        """Plot each metric's training and `val_` curves against 1-based epochs.

        Args:
            keys: Metric names to plot, one panel each (`"loss"` draws `loss`
                and `val_loss`); `None` plots every recorded metric.
            path: Where to save the figure (PNG unless the suffix says otherwise).
            show: Whether to show the figure through `matplotlib.pyplot`.

        Returns:
            The matplotlib `Figure`.

        Example:
            >>> fig = history.plot(["loss"], path="loss.png")  # doctest: +SKIP
        """
        if not self.history:
            raise ValueError(
                "Nothing to plot: no epoch has been recorded. "
                f"Received: history={self.history!r} (of type dict)"
            )
        names = self._metric_names(keys)
        try:
            import matplotlib
        except ImportError as e:
            raise ImportError(
                "History.plot() requires matplotlib. Install it with `pip install matplotlib`."
            ) from e

        ncols = min(len(names), 3)
        nrows = -(-len(names) // ncols)
        figsize = (5.0 * ncols, 3.5 * nrows)
        if show:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=figsize)
        else:
            # A Figure outside pyplot draws with Agg: no display or GUI needed,
            # and no figure lingers in pyplot's global registry.
            from matplotlib.figure import Figure

            fig = Figure(figsize=figsize)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()

        for ax, name in zip(axes, names, strict=False):
            for key, label in ((name, "train"), (_VAL + name, "val")):
                if key in self.history:
                    epochs = [e + 1 for e in self._epochs_for(key)]
                    ax.plot(epochs, self.history[key], marker="o", markersize=3, label=label)
            ax.set_title(name)
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            # Epochs are whole numbers: no 1.5 ticks.
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.grid(True, alpha=0.3)
            ax.legend()
        for ax in axes[len(names):]:
            ax.set_visible(False)
        fig.tight_layout()

        if path is not None and distributed.is_writer():  # data-parallel: rank 0 writes
            fig.savefig(path)
        if show:
            plt.show()
        return fig

    def to_dataframe(self) -> pd.DataFrame:
        """The history as a pandas DataFrame: one column per name, indexed by epoch.

        The index holds the 0-based epochs (as `history.epoch`); a name with no
        value at an epoch (e.g. `val_` ones with `validation_freq`) has NaN there.

        Example:
            >>> history.to_dataframe()  # doctest: +SKIP
                   loss  val_loss
            epoch
            0      0.50      0.75
        """
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError(
                "History.to_dataframe() requires pandas. Install it with `pip install pandas`."
            ) from e
        columns = {
            name: pd.Series(values, index=self._epochs_for(name))
            for name, values in self.history.items()
        }
        frame = pd.DataFrame(columns)
        frame.index.name = "epoch"
        return frame
