"""LLMServerDouble: a deterministic OpenAI- and Ollama-compatible HTTP server for tests.

A test double, not a product component. The real ``langchain-openai`` and ``langchain-ollama`` clients
talk to it over HTTP. Answers are derived from the prompt (same prompt, same answer). Each model can be
given a :class:`Behaviour` (latency, per-token delay, and a fault) so routing and failover can be tested.

Run it on its own (e.g. for benchmarks)::

    python -m tests.doubles.llm_server --port 8011
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from tests.doubles.answers import count_tokens, digest, json_answer, text_answer

Fault = Literal[
    "status",
    "reset",
    "hang",
    "slow_first_token",
    "stream_cut",
    "stall",
    "malformed_chunk",
    "missing_done",
    "context_length",
    "content_policy",
]


@dataclass
class Behaviour:
    """How the double answers for one model."""

    latency_s: float = 0.0
    """Delay before the response (before the first token when streaming)."""
    token_delay_s: float = 0.0
    """Delay between streamed chunks."""
    fault: Fault | None = None
    """The fault to inject; None answers normally."""
    status: int = 500
    """HTTP status for fault='status'."""
    retry_after: float | None = None
    """Retry-After header (seconds) for fault='status'."""
    times: int | None = None
    """Inject the fault into the first N requests only; None means every request."""
    first_token_delay_s: float = 5.0
    """Delay before the first token for fault='slow_first_token'."""
    stall_s: float = 30.0
    """How long a stream stalls mid-way for fault='stall'."""
    answer_words: int = 24
    """Length of free-text answers."""
    at_chunk: int | None = None
    """Chunk index at which a stream fault strikes; None means half-way through."""
    context_limit: int = 4096
    """The context window fault='context_length' states in its error message."""


@dataclass
class RequestRecord:
    """One request the double received."""

    api: Literal["openai", "ollama"]
    model: str
    stream: bool
    prompt: str
    fault: str | None
    authorization: str | None = None
    """The Authorization header the client sent (tests check which key a client used)."""
    at: float = field(default_factory=time.monotonic)


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        parts.append(f"{message.get('role')}: {content}")
    return "\n".join(parts)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the client's
    # delayed ACK adds ~40 ms to some responses.
    disable_nagle_algorithm = True
    server: _DoubleHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    # --- plumbing -------------------------------------------------------------------------------
    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _reset(self) -> None:
        """Close the connection with a TCP RST (SO_LINGER 0)."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _cut(self) -> None:
        """Drop the connection mid-response without finishing the chunked body."""
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _read_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        body: dict[str, Any] = json.loads(raw or b"{}")
        return body

    # --- routes ---------------------------------------------------------------------------------
    def do_GET(self) -> None:
        double = self.server.double
        if self.path == "/health":
            status = 200 if double.healthy else 503
            self._send_json(status, {"status": "ok" if double.healthy else "down"})
        elif self.path == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "tradeflow-test"} for m in double.models]
            self._send_json(200, {"object": "list", "data": data})
        elif self.path == "/api/tags":
            models = [
                {
                    "name": m,
                    "model": m,
                    "modified_at": "2026-01-01T00:00:00Z",
                    "size": 1,
                    "digest": digest(m),
                    "details": {"family": "test", "parameter_size": "1B", "quantization_level": "Q4_0"},
                }
                for m in double.models
            ]
            self._send_json(200, {"models": models})
        elif self.path == "/api/ps":
            models = [
                {
                    "name": m,
                    "model": m,
                    "size": 1,
                    "digest": digest(m),
                    "expires_at": "2099-01-01T00:00:00Z",
                    "size_vram": 1,
                }
                for m in double.models
            ]
            self._send_json(200, {"models": models})
        elif self.path == "/_double/requests":
            self._send_json(200, [asdict(r) for r in double.requests])
        else:
            self._send_json(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        if self.path == "/v1/chat/completions":
            self._chat("openai")
        elif self.path == "/api/chat":
            self._chat("ollama")
        elif self.path == "/_double/behaviour":
            body = self._read_body()
            for model, spec in body.items():
                self.server.double.set_behaviour(model, Behaviour(**spec))
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, {"error": f"no route {self.path}"})

    def _chat(self, api: Literal["openai", "ollama"]) -> None:
        double = self.server.double
        double.entered()
        try:
            self._answer_chat(api)
        finally:
            double.left()

    def _answer_chat(self, api: Literal["openai", "ollama"]) -> None:
        double = self.server.double
        body = self._read_body()
        model = str(body.get("model", ""))
        stream = bool(body.get("stream", api == "ollama"))
        prompt = _prompt_text(body.get("messages", []))
        behaviour, fault = double.take_fault(model)
        double.record(
            RequestRecord(api=api, model=model, stream=stream, prompt=prompt, fault=fault,
                          authorization=self.headers.get("Authorization"))
        )  # fmt: skip
        if behaviour.latency_s:
            time.sleep(behaviour.latency_s)
        if fault == "reset":
            self._reset()
            return
        if fault == "hang":
            double.stopping.wait(600)
            self.close_connection = True
            return
        if fault in ("status", "context_length", "content_policy"):
            self._error(api, fault, behaviour)
            return
        text = self._answer(api, body, model, prompt, behaviour)
        usage = (count_tokens(prompt), count_tokens(text))
        if not stream:
            if fault == "slow_first_token":
                time.sleep(behaviour.first_token_delay_s)
            self._send_json(200, self._full(api, model, text, usage))
            return
        self._stream(api, model, text, usage, body, behaviour, fault)

    def _answer(self, api: str, body: dict[str, Any], model: str, prompt: str, behaviour: Behaviour) -> str:
        if api == "openai":
            fmt = body.get("response_format") or {}
            if fmt.get("type") == "json_schema":
                return json_answer(fmt["json_schema"].get("schema"), model, prompt)
            if fmt.get("type") == "json_object":
                return json_answer(None, model, prompt)
        else:
            fmt = body.get("format")
            if isinstance(fmt, dict):
                return json_answer(fmt, model, prompt)
            if fmt == "json":
                return json_answer(None, model, prompt)
        return text_answer(model, prompt, behaviour.answer_words)

    def _error(self, api: str, fault: str, behaviour: Behaviour) -> None:
        if fault == "context_length":
            status, code = 400, "context_length_exceeded"
            message = (
                f"This model's maximum context length is {behaviour.context_limit} tokens. "
                "Please reduce the length of the messages."
            )
        elif fault == "content_policy":
            status, code = 400, "content_policy_violation"
            message = "The response was filtered due to the prompt triggering the content management policy."
        else:
            status = behaviour.status
            code = "rate_limit_exceeded" if status == 429 else "server_error"
            message = "Rate limit reached for requests" if status == 429 else f"upstream failure ({status})"
        headers = {"Retry-After": f"{behaviour.retry_after:g}"} if behaviour.retry_after is not None else {}
        if api == "openai":
            body: Any = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
        else:
            body = {"error": message}
        self._send_json(status, body, headers)

    @staticmethod
    def _full(api: str, model: str, text: str, usage: tuple[int, int]) -> dict[str, Any]:
        if api == "openai":
            return {
                "id": f"chatcmpl-{digest(text)[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
            }
        return {
            "model": model,
            "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1,
            "prompt_eval_count": usage[0],
            "eval_count": usage[1],
        }

    def _stream(
        self,
        api: str,
        model: str,
        text: str,
        usage: tuple[int, int],
        body: dict[str, Any],
        behaviour: Behaviour,
        fault: str | None,
    ) -> None:
        pieces = _split(text)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        sse = api == "openai"
        self._start_chunked("text/event-stream" if sse else "application/x-ndjson")
        if fault == "slow_first_token":
            time.sleep(behaviour.first_token_delay_s)
        cid = f"chatcmpl-{digest(text)[:12]}"
        for index, piece in enumerate(pieces):
            if index and behaviour.token_delay_s:
                time.sleep(behaviour.token_delay_s)
            strike = behaviour.at_chunk if behaviour.at_chunk is not None else max(len(pieces) // 2, 1)
            half = index == strike
            if half and fault == "stream_cut":
                self._cut()
                return
            if half and fault == "stall":
                time.sleep(behaviour.stall_s)
            if half and fault == "malformed_chunk":
                self._chunk(
                    b'data: {"id": "broken", "choices": [{"delta": {"content": \n\n' if sse else b'{"message": {\n'
                )
            self._chunk(_openai_delta(cid, model, piece, index == 0) if sse else _ollama_delta(model, piece))
        if sse:
            self._chunk(_sse(_openai_chunk(cid, model, [{"index": 0, "delta": {}, "finish_reason": "stop"}])))
            if include_usage:
                totals = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
                self._chunk(_sse(_openai_chunk(cid, model, [], usage=totals)))
            if fault == "missing_done":
                self._end_chunked()
                return
            self._chunk(b"data: [DONE]\n\n")
        else:
            final = {
                "model": model,
                "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "prompt_eval_count": usage[0],
                "eval_count": usage[1],
            }
            if fault != "missing_done":
                self._chunk(json.dumps(final).encode() + b"\n")
        self._end_chunked()


def _split(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _openai_chunk(cid: str, model: str, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion.chunk", "created": 0, "model": model, "choices": choices, **extra}


def _openai_delta(cid: str, model: str, piece: str, first: bool) -> bytes:
    delta: dict[str, Any] = {"content": piece}
    if first:
        delta["role"] = "assistant"
    return _sse(_openai_chunk(cid, model, [{"index": 0, "delta": delta, "finish_reason": None}]))


def _ollama_delta(model: str, piece: str) -> bytes:
    return (
        json.dumps(
            {
                "model": model,
                "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": piece},
                "done": False,
            }
        ).encode()
        + b"\n"
    )


class _DoubleHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    double: LLMServerDouble


class LLMServerDouble:
    """The test double: start it, point a client at ``openai_base_url`` or ``ollama_base_url``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, models: tuple[str, ...] = ("test-model",)) -> None:
        self.models = list(models)
        self.healthy = True
        self.requests: list[RequestRecord] = []
        self.stopping = threading.Event()
        self._behaviours: dict[str, Behaviour] = {}
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        """Most chat requests being answered at once since the last reset (fan-out bounds are checked on it)."""
        self._httpd = _DoubleHTTPServer((host, port), _Handler)
        self._httpd.double = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def ollama_base_url(self) -> str:
        return self.base_url

    def set_behaviour(self, model: str, behaviour: Behaviour) -> None:
        with self._lock:
            self._behaviours[model] = behaviour
            self._served[model] = 0

    def reset(self) -> None:
        """Forget behaviours and recorded requests."""
        with self._lock:
            self._behaviours.clear()
            self._served.clear()
            self.requests.clear()
            self.healthy = True
            self.max_in_flight = self.in_flight

    def entered(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def left(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def take_fault(self, model: str) -> tuple[Behaviour, str | None]:
        """The model's behaviour and the fault to inject into this request (counting ``times``)."""
        with self._lock:
            behaviour = self._behaviours.get(model, Behaviour())
            served = self._served.get(model, 0)
            self._served[model] = served + 1
        if behaviour.fault is None or (behaviour.times is not None and served >= behaviour.times):
            return behaviour, None
        return behaviour, behaviour.fault

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def requests_for(self, model: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.model == model]

    def start(self) -> LLMServerDouble:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="llm-double", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the LLM server double on its own.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8011)
    args = parser.parse_args()
    double = LLMServerDouble(args.host, args.port, models=("test-model", "slow-model"))
    print(f"llm double listening on {double.base_url}", flush=True)
    try:
        double._httpd.serve_forever()
    except KeyboardInterrupt:
        double.stop()


if __name__ == "__main__":
    main()
