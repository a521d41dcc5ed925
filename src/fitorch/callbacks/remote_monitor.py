"""`RemoteMonitor`: POST every epoch's logs to a server (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from fitorch.callbacks.callback import Callback


def _jsonable(value: Any) -> Any:
    # NumPy and torch scalars are no JSON types: unwrap them.
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist() if isinstance(value, np.ndarray) and value.ndim else value.item()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    return value


class RemoteMonitor(Callback):
    """Send each epoch's logs to a server as an HTTP POST (Keras 3's requests).

    The payload is `{"epoch": epoch, **logs}` as JSON: with `send_as_json=True`
    it is the body (`Content-Type: application/json`); otherwise it is sent as
    a form whose field `field` holds the JSON string
    (`application/x-www-form-urlencoded`), as Keras sends it with `requests`.
    fitorch uses `urllib` from the standard library instead, so nothing extra
    needs installing. A server that cannot be reached gives a warning, never an
    error; an HTTP error status gives a warning too (Keras ignores it).

    Args:
        root: Root URL of the server.
        path: Path relative to `root` to which events are sent.
        field: Form field holding the JSON payload (when not `send_as_json`).
        headers: Extra HTTP headers.
        send_as_json: Send the payload as the JSON body.
        timeout: Seconds to wait for the server (Keras waits forever).

    Example:
        >>> monitor = RemoteMonitor(root="http://localhost:9000", send_as_json=True)
        >>> model.fit(x, y, epochs=5, callbacks=[monitor])  # doctest: +SKIP
    """

    rank_zero_only = True  # data-parallel runs: only rank 0 prints or writes

    def __init__(
        self,
        root: str = "http://localhost:9000",
        path: str = "/publish/epoch/end/",
        field: str = "data",
        headers: Mapping[str, str] | None = None,
        send_as_json: bool = False,
        *,
        timeout: float = 10.0,
    ) -> None:
        super().__init__()
        for name, value in (("root", root), ("path", path), ("field", field)):
            if not isinstance(value, str):
                raise TypeError(
                    f"`{name}` must be a string. Received: {name}={value!r} "
                    f"(of type {type(value).__name__})"
                )
        if headers is not None and not isinstance(headers, Mapping):
            raise TypeError(
                "`headers` must be a dict of HTTP headers or None. "
                f"Received: headers={headers!r} (of type {type(headers).__name__})"
            )
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            raise ValueError(
                f"`timeout` must be a positive number of seconds. Received: timeout={timeout!r} "
                f"(of type {type(timeout).__name__})"
            )
        self.root = root
        self.path = path
        self.field = field
        self.headers = dict(headers) if headers is not None else None
        self.send_as_json = bool(send_as_json)
        self.timeout = float(timeout)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        send: dict[str, Any] = {"epoch": epoch}
        for key, value in (logs or {}).items():
            send[key] = _jsonable(value)
        if self.send_as_json:
            body = json.dumps(send).encode("utf-8")
            content_type = "application/json"
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("ascii")
            content_type = "application/x-www-form-urlencoded"
        headers = dict(self.headers or {})
        if not any(k.lower() == "content-type" for k in headers):  # the user's one wins
            headers["Content-Type"] = content_type
        request = urllib.request.Request(
            self.root + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as e:
            warnings.warn(
                f"RemoteMonitor: the server at {self.root} answered HTTP {e.code} ({e.reason}) "
                f"to the POST to {self.path}.", UserWarning, stacklevel=2)
        except (urllib.error.URLError, OSError, ValueError):
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}",
                          UserWarning, stacklevel=2)
