"""A minimal OpenAI-compatible chat server on asyncio, for overhead benchmarks.

It answers every ``POST /v1/chat/completions`` with the same small completion (usage included) over
keep-alive HTTP/1.1, doing as little work per request as possible so client-side costs dominate what a
benchmark measures. (The test double, tests/doubles/llm_server.py, is threaded and feature-rich: right for
fault tests, too noisy for sub-millisecond figures.)

    python benchmarks/stub_llm.py --port 8012
"""

from __future__ import annotations

import argparse
import asyncio
import json

ANSWER = "The settlement break is a timing difference; it clears on the next cycle."
BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 14, "total_tokens": 26},
    }
).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\n\r\n"
) + BODY
MODELS = json.dumps({"object": "list", "data": [{"id": "test-model", "object": "model"}]}).encode()
MODELS_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(MODELS)).encode() + b"\r\n\r\n"
) + MODELS


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            writer.write(MODELS_RESPONSE if head.startswith(b"GET") else RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int) -> None:
    server = await asyncio.start_server(_serve, host, port)
    print(f"stub listening on http://{host}:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8012)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
