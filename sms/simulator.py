"""A Mailpro-protocol SMS provider over real HTTP, for tests, benchmarks and demos.

``manage.py sms_gateway_sim --port 8025 --latency-ms 50`` runs it; tests start one in a thread
with ``start_simulator``. One thread per connection (keep-alive, HTTP/1.1), so it answers
hundreds of concurrent requests. Switches: latency, a share of HTTP 500s, a share of requests
that hang past the client's timeout, and a share of malformed JSON answers.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx

from sms.gateways.base import SIGNATURE_HEADER, sign


@dataclass
class SimConfig:
    latency_ms: float = 0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    busy_rate: float = 0.0  # share of requests answered 429 Too Many Requests
    malformed_rate: float = 0.0
    hang_seconds: float = 30.0
    credits: float = 1_000_000
    client_id: str = ""  # when set, requests must carry this id_client / api_key
    api_key: str = ""
    callback_url: str = ""  # when set, each accepted message is reported "delivered" here
    callback_secret: str = ""


@dataclass
class SimState:
    config: SimConfig
    ids: itertools.count = field(default_factory=lambda: itertools.count(1000))
    lock: threading.Lock = field(default_factory=threading.Lock)
    received: list[dict[str, str]] = field(default_factory=list)
    # reference -> IdSend: a repeated reference gets the first answer and is not sent again.
    references: dict[str, int] = field(default_factory=dict)
    repeats: int = 0
    rng: random.Random = field(default_factory=random.Random)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's pool reuses connections
    # Headers and body go out as two writes; without this, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    server: SimServer

    def log_message(self, format, *args):  # noqa: A002 - quiet by default
        if self.server.verbose:
            super().log_message(format, *args)

    def _answer(self, status: int, body: bytes | dict) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _fields(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        query = urlsplit(self.path).query
        pairs = parse_qs(body) | parse_qs(query)
        return {k: v[0] for k, v in pairs.items()}

    def _misbehave(self) -> bool:
        """Apply latency and the configured failures; True when the answer was sent."""
        state, config = self.server.state, self.server.state.config
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000)
        with state.lock:
            roll = state.rng.random()
        if roll < config.timeout_rate:
            time.sleep(config.hang_seconds)
            self.close_connection = True
            return True
        roll -= config.timeout_rate
        if roll < config.busy_rate:
            self._answer(429, {"Result": "ERROR", "ErrorCode": "429", "Message": "Too many"})
            return True
        roll -= config.busy_rate
        if roll < config.error_rate:
            self._answer(500, b"<html>Internal Server Error</html>")
            return True
        roll -= config.error_rate
        if roll < config.malformed_rate:
            self._answer(200, b'{"Result": "OK", "IdSend": ')
            return True
        return False

    def _authorised(self, fields: dict[str, str]) -> bool:
        config = self.server.state.config
        if config.client_id and (
            fields.get("id_client") != config.client_id or fields.get("api_key") != config.api_key
        ):
            self._answer(401, {"Result": "ERROR", "ErrorCode": "401", "Message": "Bad credentials"})
            return False
        return True

    def do_POST(self):
        fields = self._fields()
        if urlsplit(self.path).path != "/sms/send/add_single.json":
            return self._answer(404, {"Result": "ERROR", "Message": "Not found"})
        if self._misbehave() or not self._authorised(fields):
            return None
        to, message = fields.get("to", ""), fields.get("message", "")
        if not to.startswith("+") or not message:
            return self._answer(
                200,
                {
                    "Result": "ERROR",
                    "ErrorCode": "E_PARAM",
                    "Message": "to and message are required",
                },
            )
        state, reference = self.server.state, fields.get("reference", "")
        with state.lock:
            if reference and reference in state.references:
                state.repeats += 1
                return self._answer(200, {"Result": "OK", "IdSend": state.references[reference]})
            id_send = next(state.ids)
            state.config.credits -= 1
            state.received.append({**fields, "at": f"{time.time():.3f}"})
            if reference:
                state.references[reference] = id_send
        self._answer(200, {"Result": "OK", "IdSend": id_send})
        if state.config.callback_url:
            threading.Thread(target=self._report, args=(id_send,), daemon=True).start()
        return None

    def _report(self, id_send: int) -> None:
        config = self.server.state.config
        time.sleep(0.5)
        body = json.dumps({"IdSend": str(id_send), "Status": "delivered"}).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, config.callback_secret or None),
        }
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(config.callback_url, content=body, headers=headers, timeout=5)

    def do_GET(self):
        fields = self._fields()
        if urlsplit(self.path).path == "/sim/received.json":
            return self._received()
        if urlsplit(self.path).path != "/sms/credit/get.json":
            return self._answer(404, {"Result": "ERROR", "Message": "Not found"})
        if self._misbehave() or not self._authorised(fields):
            return None
        credits = self.server.state.config.credits
        return self._answer(
            200, {"Result": "OK", "RemainingCredits": credits, "TotalCredits": 1_000_000}
        )

    def _received(self) -> None:
        """What the simulator was sent, for tests and benchmarks: each accepted message's
        number, reference and arrival time, and how many repeats it dropped."""
        state = self.server.state
        with state.lock:
            rows = [
                [r.get("to", ""), r.get("reference", ""), float(r["at"])] for r in state.received
            ]
            repeats = state.repeats
        return self._answer(200, {"count": len(rows), "repeats": repeats, "messages": rows})


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    verbose = False

    def __init__(self, address: tuple[str, int], state: SimState):
        super().__init__(address, Handler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def start_simulator(port: int = 0, **config) -> SimServer:
    """Serve in a background thread; ``server.shutdown()`` stops it. Port 0 picks a free one."""
    server = SimServer(("127.0.0.1", port), SimState(SimConfig(**config)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
