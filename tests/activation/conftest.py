"""Real receivers for the activation tests: an SMTP server (aiosmtpd) and a webhook endpoint.

Both run on loopback in this process, started and stopped by the fixtures; the webhook
receiver keeps the first message of each ``Idempotency-Key`` as a real receiver would and
counts every delivery, so a test can tell "received" from "received twice".
"""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """Messages the SMTP server accepted: ``(envelope recipients, parsed message)``."""

    def __init__(self) -> None:
        self.messages: list = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = message_from_bytes(envelope.content)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for _, m in self.messages]


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.port = port
    try:
        yield inbox
    finally:
        controller.stop()


class Hooks:
    def __init__(self) -> None:
        self.deliveries: list[tuple[dict, bytes]] = []
        self.kept: dict[str, dict] = {}
        self.fail_first: int = 0
        self.lock = threading.Lock()


@pytest.fixture
def webhook_receiver():
    hooks = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's hook name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with hooks.lock:
                hooks.deliveries.append((dict(self.headers), body))
                if hooks.fail_first > 0:
                    hooks.fail_first -= 1
                    code = 503
                else:
                    hooks.kept.setdefault(self.headers["Idempotency-Key"], json.loads(body))
                    code = 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hooks.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield hooks
    finally:
        server.shutdown()
        server.server_close()
