"""Keras 3's progress bar, with lazily read metric values.

The text is byte-for-byte Keras 3's (`keras.utils.Progbar`). The difference is
when metric values are read: fitorch's logs turn into floats (a host-device
sync) only when read, so a `Mapping` or a zero-argument callable passed as
`values` is read only when a line is actually rendered, never on a throttled
update.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

# What `Progbar.update` accepts as `values`: pairs (read at once, as Keras), a
# mapping or a zero-argument callable returning pairs or a mapping (read only
# when a line is rendered).
Values = (
    Mapping[str, Any]
    | Iterable[tuple[str, Any]]
    | Callable[[], Mapping[str, Any] | Iterable[tuple[str, Any]] | None]
    | None
)

_BAR_CHAR = "━"


def is_interactive_stdout() -> bool:
    """Whether `sys.stdout` can redraw a line in place (a terminal or a notebook).

    Example:
        >>> verbose = 1 if is_interactive_stdout() else 2
    """
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        tty = bool(isatty()) if callable(isatty) else False
    except (ValueError, OSError):  # a closed or detached stream
        tty = False
    # Keras also tests `"posix" in sys.modules`, which holds in every process on
    # Linux and macOS and so would make log files fill with `\b`/`\r` redraws.
    return (
        tty
        or "ipykernel" in sys.modules
        or "google.colab" in sys.modules
        or "PYCHARM_HOSTED" in os.environ
    )


def write_stdout(message: str) -> None:
    """Write `message` to the current `sys.stdout` and flush it.

    Streams that cannot encode the bar character get Keras 2's `=` instead.

    Example:
        >>> write_stdout("Epoch 1/3\\n")
        Epoch 1/3
    """
    out = sys.stdout
    try:
        out.write(message)
    except UnicodeEncodeError:
        encoding = getattr(out, "encoding", None) or "utf-8"
        message = message.replace(_BAR_CHAR, "=")
        out.write(message.encode(encoding, errors="ignore").decode(encoding))
    out.flush()


def _to_number(value: Any) -> Any:
    """A float for scalars, tensors and arrays (their mean); `value` itself otherwise."""
    if isinstance(value, float):
        return value
    if isinstance(value, (str, bytes)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        pass
    # Several elements: Keras shows their mean (`np.mean`).
    detach = getattr(value, "detach", None)
    if callable(detach):
        value = detach().cpu().double()
    try:
        return float(np.mean(np.asarray(value)))
    except (TypeError, ValueError):
        return value


def _format_time(time_per_unit: float, unit_name: str) -> str:
    if time_per_unit >= 1 or time_per_unit == 0:
        return f" {time_per_unit:.0f}s/{unit_name}"
    if time_per_unit >= 1e-3:
        return f" {time_per_unit * 1000.0:.0f}ms/{unit_name}"
    return f" {time_per_unit * 1000000.0:.0f}us/{unit_name}"


def _format_eta(eta: float) -> str:
    # int() truncates, as Keras's `%d` does.
    if eta > 3600:
        return f"{int(eta // 3600)}:{int((eta % 3600) // 60):02d}:{int(eta % 60):02d}"
    if eta > 60:
        return f"{int(eta // 60)}:{int(eta % 60):02d}"
    return f"{int(eta)}s"


class Progbar:
    """Displays a progress bar, as `keras.utils.Progbar`.

    Args:
        target: Total number of steps expected, `None` if unknown.
        width: Width of the bar in characters.
        verbose: 0 (silent), 1 (live bar) or 2 (one line when finalized).
        interval: Minimum time in seconds between two redraws.
        stateful_metrics: Names of metrics shown as given, not averaged over
            time. Give at most one of `stateful_metrics` and `stateless_metrics`.
        stateless_metrics: Names of metrics averaged over time; all others are
            shown as given. With neither argument, every metric is averaged.
        unit_name: Display name of a step ("step" or "sample").

    On a terminal (or a notebook) verbose=1 redraws the line in place; when
    `sys.stdout` is not a terminal it writes only the final line.

    Example:
        >>> bar = Progbar(3, stateless_metrics=set())
        >>> for step in range(1, 4):
        ...     bar.update(step, {"loss": 1.0 / step})  # doctest: +SKIP
        3/3 ━━━━━━━━━━━━━━━━━━━━ 0s 1ms/step - loss: 0.3333
    """

    def __init__(
        self,
        target: int | None,
        width: int = 20,
        verbose: int = 1,
        interval: float = 0.05,
        stateful_metrics: Iterable[str] | None = None,
        stateless_metrics: Iterable[str] | None = None,
        unit_name: str = "step",
    ) -> None:
        if target is not None and (
            isinstance(target, bool) or not isinstance(target, numbers.Real)
        ):
            raise TypeError(
                "Expected `target` to be a number of steps or None. "
                f"Received: target={target!r} (of type {type(target).__name__})"
            )
        if verbose not in (0, 1, 2):
            raise ValueError(
                "Expected `verbose` to be 0, 1 or 2. "
                f"Received: verbose={verbose!r} (of type {type(verbose).__name__})"
            )
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Give at most one of `stateful_metrics` and `stateless_metrics`. "
                f"Received: stateful_metrics={stateful_metrics!r}, "
                f"stateless_metrics={stateless_metrics!r}"
            )
        self.target: int | None = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics: set[str] | None
        self.stateless_metrics: set[str] | None
        if stateless_metrics is not None:
            self.stateful_metrics = None
            self.stateless_metrics = set(stateless_metrics)
        else:
            self.stateful_metrics = set(stateful_metrics or ())
            self.stateless_metrics = None

        self._dynamic_display = is_interactive_stdout()
        self._seen_so_far: float = 0
        # Per name: [sum of value * steps, steps]; shown as sum / steps.
        self._values: dict[str, list[Any]] = {}
        self._values_order: list[str] = []
        # Lazy values from the latest update, read at the next render.
        self._pending: Values = None
        self._seen_at_last_read: float = 0
        self._start = time.time()
        self._last_update: float = 0
        self._time_after_first_step: float | None = None
        self._prev_total_width = 0

    # --- public API --------------------------------------------------------
    def update(self, current: float, values: Values = None, finalize: bool | None = None) -> None:
        """Move the bar to step `current`, redrawing it if `interval` has passed.

        Args:
            current: Index of the current step (1-based count of steps done).
            values: The metrics of the last step: a list of `(name, value)`
                pairs (read now, as Keras), or a `Mapping`, or a zero-argument
                callable returning either; those two are read only when a line
                is rendered.
            finalize: Whether this is the last update; `None` means
                `current >= target`.

        Example:
            >>> bar = Progbar(10, verbose=2)
            >>> bar.update(5, lambda: {"loss": 0.5})  # nothing printed or read
        """
        if self.verbose == 0:
            # Nothing will ever be shown: read nothing.
            self._seen_so_far = current
            return
        if finalize is None:
            finalize = self.target is not None and current >= self.target

        if values is not None:
            if isinstance(values, Mapping) or callable(values):
                self._defer(values)
            else:
                # Materialized pairs: record them now, exactly as Keras does.
                weight = max(current - self._seen_so_far, 1)
                for name, value in values:
                    self._record(name, value, finalize, weight)
        self._seen_so_far = current

        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)

        if self.verbose == 1:
            if not finalize and now - self._last_update < self.interval:
                return
            if not finalize and not self._dynamic_display:
                # Not a terminal: a log file gets the final line only.
                return
            self._read_pending(current, finalize)
            self._render_live(current, now, time_per_unit, finalize)
        elif finalize and self.target is not None and self.target > 0:
            self._read_pending(current, finalize)
            self._render_summary(current, self.target, now, time_per_unit)
        self._last_update = now

    def add(self, n: int, values: Values = None) -> None:
        """Advance the bar by `n` steps.

        Example:
            >>> bar = Progbar(None, verbose=0)
            >>> bar.add(2)
        """
        self.update(self._seen_so_far + n, values)

    # --- values ------------------------------------------------------------
    def _is_stateless(self, name: str) -> bool:
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return self.stateless_metrics is not None and name in self.stateless_metrics

    def _record(self, name: str, value: Any, finalize: bool, weight: float) -> None:
        if name not in self._values and name not in self._values_order:
            self._values_order.append(name)
        if self._is_stateless(name) and not finalize:
            # Averaged over time, each value weighted by the steps it covers.
            entry = self._values.get(name)
            if entry is None:
                self._values[name] = [value * weight, weight]
            else:
                entry[0] = entry[0] + value * weight
                entry[1] += weight
        else:
            # Shown as given (and a stateless metric's final value replaces
            # its running average, as in Keras).
            self._values[name] = [value, 1]

    def _defer(self, values: Values) -> None:
        """Keep `values` to read at the next render, in place of the previous ones."""
        old = self._pending
        self._pending = values
        if old is None or old is values or not isinstance(old, Mapping):
            # (A superseded callable is dropped: it stands for every name.)
            return
        # Keras shows every name ever given. A name of the superseded mapping
        # that the new values lack must be read now or be lost; iterating a
        # mapping gives its keys without reading values.
        newer = set(values) if isinstance(values, Mapping) else ()
        missing = [name for name in old if name not in newer]
        if missing:
            # Keep Keras's first-seen order of the names, values read or not.
            for name in old:
                if name not in self._values_order:
                    self._values_order.append(name)
            weight = max(self._seen_so_far - self._seen_at_last_read, 1)
            for name in missing:
                self._record(name, old[name], False, weight)

    def _read_pending(self, current: float, finalize: bool) -> None:
        values = self._pending
        if values is None:
            return
        self._pending = None
        if not isinstance(values, Mapping) and callable(values):
            values = values()
            if values is None:
                return
        pairs = values.items() if isinstance(values, Mapping) else values
        # A lazily read value stands for every step since the previous read.
        weight = max(current - self._seen_at_last_read, 1)
        for name, value in pairs:
            self._record(name, value, finalize, weight)
        self._seen_at_last_read = current

    def _metric_text(self, live: bool) -> str:
        text = ""
        for name in self._values_order:
            if name not in self._values:  # ordered, but its value is not read yet
                continue
            total, count = self._values[name]
            total = _to_number(total)
            text += f" - {name}:"
            if not isinstance(total, float):
                text += f" {total}"
                continue
            avg = total / max(1, count)
            # Keras's live bar compares |avg|, its verbose=2 line avg itself.
            small = abs(avg) <= 1e-3 if live else avg <= 1e-3
            text += f" {avg:.4e}" if small else f" {avg:.4f}"
        return text

    # --- rendering ---------------------------------------------------------
    @staticmethod
    def _count_text(current: float, target: float) -> str:
        digits = int(math.log10(target)) + 1
        return f"{int(current):{digits}d}/{int(target)}"

    def _render_live(
        self, current: float, now: float, time_per_unit: float, finalize: bool
    ) -> None:
        # ANSI escapes take no room on screen; count them out of the width.
        escapes = 0
        target = self.target if self.target is not None and self.target > 0 else None
        if target is not None:
            bar = f"\x1b[1m{self._count_text(current, target)}\x1b[0m "
            escapes += 8
            done = int(self.width * (float(current) / target))
            if done > 0:
                bar += f"\x1b[32m{_BAR_CHAR * done}\x1b[0m"
                escapes += 9
            bar += f"\x1b[37m{_BAR_CHAR * (self.width - done)}\x1b[0m"
            escapes += 9
        else:
            bar = f"{int(current):7d}/Unknown"

        if target is not None and not finalize:
            info = f" \x1b[1m{_format_eta(time_per_unit * (target - current))}\x1b[0m"
        else:
            info = f" \x1b[1m{now - self._start:.0f}s\x1b[0m"
        escapes += 8
        info += _format_time(time_per_unit, self.unit_name)
        info += self._metric_text(live=True)

        message = ""
        if self._dynamic_display:
            message += "\b" * self._prev_total_width + "\r"
        message += bar + info
        total_width = len(bar) + len(info) - escapes
        if self._dynamic_display and self._prev_total_width > total_width:
            message += " " * (self._prev_total_width - total_width)
        if finalize:
            message += "\n"
        write_stdout(message)
        self._prev_total_width = total_width

    def _render_summary(
        self, current: float, target: float, now: float, time_per_unit: float
    ) -> None:
        info = f"{self._count_text(current, target)} - {now - self._start:.0f}s"
        info += f" -{_format_time(time_per_unit, self.unit_name)}"
        info += self._metric_text(live=False)
        write_stdout(info + "\n")

    def _estimate_step_duration(self, current: float, now: float) -> float:
        """Seconds per step, leaving out the first (warm-up) step once there are more."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit
