"""RemoteMonitor against a local HTTP server (http.server in a thread, 127.0.0.1 only)."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

import fitorch as ft
from keras_twins import make_data


class Server:
    def __init__(self, status: int = 200) -> None:
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.requests.append({"path": self.path, "headers": dict(self.headers),
                                        "body": body})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # keep the test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def test_fit_posts_every_epoch_as_a_form(server: Server) -> None:
    x, y = make_data(64)
    model = ft.Sequential([ft.Input(shape=(8,)), ft.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, verbose=0, validation_split=0.25,
                        callbacks=[ft.callbacks.RemoteMonitor(root=server.root)])
    assert [r["path"] for r in server.requests] == ["/publish/epoch/end/"] * 2
    for epoch, request in enumerate(server.requests):
        assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        form = urllib.parse.parse_qs(request["body"].decode("ascii"))
        assert list(form) == ["data"]
        payload = json.loads(form["data"][0])
        assert payload == {"epoch": epoch, **{k: v[epoch] for k, v in history.history.items()}}


def test_json_body_custom_path_and_headers(server: Server) -> None:
    monitor = ft.callbacks.RemoteMonitor(root=server.root, path="/events", field="ignored",
                                         headers={"X-Run": "run-7"}, send_as_json=True)
    monitor.on_epoch_end(3, {"loss": np.float32(0.5), "vector": np.array([1.0, 2.0]),
                             "count": np.int64(4)})
    (request,) = server.requests
    assert request["path"] == "/events"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-Run"] == "run-7"
    assert json.loads(request["body"]) == {"epoch": 3, "loss": 0.5, "vector": [1.0, 2.0],
                                           "count": 4}


def test_user_content_type_wins(server: Server) -> None:
    monitor = ft.callbacks.RemoteMonitor(root=server.root, send_as_json=True,
                                         headers={"content-type": "text/plain"})
    monitor.on_epoch_end(0, {"loss": 1.0})
    assert server.requests[0]["headers"]["Content-Type"] == "text/plain"


def test_unreachable_server_warns() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = f"http://127.0.0.1:{port}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ft.callbacks.RemoteMonitor(root=root).on_epoch_end(0, {"loss": 1.0})
    assert [str(w.message) for w in caught] == [
        f"Could not reach RemoteMonitor root server at {root}"]


def test_http_error_status_warns() -> None:
    server = Server(status=500)
    try:
        with pytest.warns(UserWarning, match="answered HTTP 500"):
            ft.callbacks.RemoteMonitor(root=server.root).on_epoch_end(0, {"loss": 1.0})
        assert len(server.requests) == 1
    finally:
        server.close()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"root": 9000}, TypeError, "root=9000"),
    ({"headers": [("X", "y")]}, TypeError, "headers="),
    ({"timeout": 0}, ValueError, "timeout=0"),
])
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ft.callbacks.RemoteMonitor(**kwargs)
