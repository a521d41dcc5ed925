"""`CSVLogger`: stream every epoch's logs to a CSV file, in Keras's format."""

from __future__ import annotations

import collections
import csv
import os
from collections.abc import Iterable, Mapping
from typing import IO, Any

import numpy as np

from fitorch.callbacks.callback import Callback


def _handle_value(value: Any) -> Any:
    """Keras's cell format: strings as they are, 1-D iterables as '"[a, b]"', else the value."""
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable) and not (isinstance(value, np.ndarray) and value.ndim == 0):
        return f'"[{", ".join(map(str, value))}]"'
    return value


class CSVLogger(Callback):
    """Callback that streams epoch results to a CSV file (Keras 3's file, byte for byte).

    The columns are `epoch` then the sorted log names of the first epoch; when
    that epoch has no `val_` names, `val_` columns are added for each name and
    hold `NA` until validation runs. Rows end with `\\r\\n` (the csv module's
    Excel dialect) and floats are written with `repr`, as Keras does.

    The file is opened at the first epoch end of each `fit` and closed at its
    end. Resuming: `state_dict()` holds the columns. After `load_state_dict()`
    (BackupAndRestore), the next `fit` appends to the file whatever `append`
    says, keeps the columns, and drops the rows of the epochs it runs again, so
    an interrupted and resumed run leaves the same file as an uninterrupted one.

    Args:
        filename: Path of the CSV file, e.g. `"run/log.csv"`.
        separator: String that separates the cells.
        append: Append to an existing file (continuing training) instead of
            overwriting it; the header is written only to an empty file.

    Example:
        >>> csv_logger = CSVLogger("training.log")
        >>> model.fit(x, y, epochs=3, callbacks=[csv_logger])  # doctest: +SKIP
    """

    rank_zero_only = True  # data-parallel runs: only rank 0 prints or writes

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",",
                 append: bool = False) -> None:
        super().__init__()
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(
                "`filename` must be a path (str or os.PathLike). "
                f"Received: filename={filename!r} (of type {type(filename).__name__})"
            )
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(
                "`separator` must be a one-character string (the csv module's delimiter). "
                f"Received: separator={separator!r} (of type {type(separator).__name__})"
            )
        if not isinstance(append, bool):
            raise ValueError(
                f"`append` must be True or False. Received: append={append!r} "
                f"(of type {type(append).__name__})"
            )
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer: csv.DictWriter[str] | None = None
        self.keys: list[str] | None = None
        self.append_header = True
        self.csv_file: IO[str] | None = None
        self._resumed = False

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._close()
        if not self._resumed:
            self.keys = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs.keys())
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys.extend([f"val_{k}" for k in self.keys])
        csv_file = self.csv_file
        if csv_file is None or csv_file.closed:
            csv_file = self._open(epoch)
        if self.writer is None:
            sep = self.sep

            class CustomDialect(csv.excel):
                delimiter = sep

            self.writer = csv.DictWriter(
                csv_file, fieldnames=["epoch", *self.keys], dialect=CustomDialect
            )
            if self.append_header:
                self.writer.writeheader()

        row: dict[str, Any] = collections.OrderedDict({"epoch": epoch})
        row.update((key, _handle_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        csv_file.flush()

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._close()
        self._resumed = False

    def _open(self, epoch: int) -> IO[str]:
        """Open the file at the first epoch end of a run (so that a state loaded by
        another callback's `on_train_begin` is known before the file is touched)."""
        resumed, self._resumed = self._resumed, False
        exists = os.path.exists(self.filename)
        if resumed and exists:
            self._drop_rows_from(epoch)
        if (self.append or resumed) and exists:
            with open(self.filename, encoding="utf-8") as f:
                self.append_header = not bool(len(f.readline()))
        else:
            self.append_header = True
        # newline="": the csv module writes "\r\n" itself (Keras's bytes on every platform).
        self.csv_file = open(  # noqa: SIM115 (kept open across epochs, closed at train end)
            self.filename, "a" if self.append or resumed else "w", newline="",
            encoding="utf-8")
        self.writer = None
        return self.csv_file

    def _close(self) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = None
        self.writer = None

    def _drop_rows_from(self, epoch: int) -> None:
        """Remove the rows of epochs >= `epoch`: written before an interruption, run again."""
        with open(self.filename, newline="", encoding="utf-8") as f:
            lines = f.read().splitlines(keepends=True)
        kept = [line for line in lines if not _row_epoch_at_least(line, self.sep, epoch)]
        if len(kept) != len(lines):
            with open(self.filename, "w", newline="", encoding="utf-8") as f:
                f.writelines(kept)

    # --- state ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The columns (`keys`); the rows are in the file itself.

        Example:
            >>> CSVLogger("log.csv").state_dict()
            {'keys': None}
        """
        return {"keys": None if self.keys is None else list(self.keys)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the next `fit` appends to the file with the same columns.

        Example:
            >>> logger = CSVLogger("log.csv")
            >>> logger.load_state_dict({"keys": ["loss", "val_loss"]})
            >>> logger.keys
            ['loss', 'val_loss']
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                "`load_state_dict` expects the dict returned by `state_dict()`. "
                f"Received: state={state!r} (of type {type(state).__name__})"
            )
        keys = state.get("keys")
        self.keys = None if keys is None else [str(k) for k in keys]
        self._resumed = True


def _row_epoch_at_least(line: str, sep: str, epoch: int) -> bool:
    first = line.split(sep, 1)[0].strip()
    return first.isdigit() and int(first) >= epoch
