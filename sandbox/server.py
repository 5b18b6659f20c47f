"""Serve a WSGI app on loopback in a background thread (sandboxes, tests, the demo)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from werkzeug.serving import BaseWSGIServer, make_server


@dataclass
class RunningServer:
    """A threaded werkzeug server; `url` has no trailing slash."""

    server: BaseWSGIServer
    thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start `app` on host:port (0 = any free port) and return once it accepts connections."""
    try:
        server = make_server(host, port, app, threaded=True)
    except SystemExit:  # werkzeug prints why it cannot listen (a taken port) and exits; callers report it
        raise OSError(f"cannot listen on {host}:{port}") from None
    # A short poll interval keeps stop() (and so every test teardown) quick.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"serve-{port}", daemon=True)
    thread.start()
    return RunningServer(server=server, thread=thread)
