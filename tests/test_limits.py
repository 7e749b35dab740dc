"""Request limits: bodies and headers have a size limit (413 / 431 as problem+json), and a client
that trickles its request (head or body) is cut off (408) instead of holding a connection for
ever. Run against `wallet-service serve` with small limits from its environment, over raw sockets
where a well-behaved client library would not misbehave enough."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import TEST_SECRET, Company, answers, free_port, token, wait_for

MAX_BODY = 64 * 1024
MAX_HEADERS = 8 * 1024
READ_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def limited(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`wallet-service serve` with MAX_BODY_BYTES, MAX_HEADER_BYTES and READ_TIMEOUT set."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("AMQP_URL", "JWT_PUBLIC_KEY")}
    env.update(
        DATABASE_URL=database_url,
        JWT_SECRET=TEST_SECRET,
        PORT=str(port),
        HOST="127.0.0.1",
        RUN_JOBS="false",
        WALLET_DATA_DIR=str(tmp_path_factory.mktemp("data")),
        MAX_BODY_BYTES=str(MAX_BODY),
        MAX_HEADER_BYTES=str(MAX_HEADERS),
        READ_TIMEOUT=str(READ_TIMEOUT_S),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "wallet_service", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is not None or answers(f"{base}/ready"), timeout=60)
        assert proc.poll() is None, "serve exited"
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response until the server closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def _trickle(sock: socket.socket, piece: bytes) -> None:
    """Send `piece` every 0.1 s until the server answers (for at most 10 s)."""
    for _ in range(100):
        if select.select([sock], [], [], 0.1)[0]:
            return
        sock.sendall(piece)
    raise AssertionError("the server let the client trickle for 10 s")


def _problem(body: bytes, status: int, code: str) -> dict[str, Any]:
    problem: dict[str, Any] = json.loads(body)
    assert problem["status"] == status and problem["code"] == code, problem
    return problem


def test_a_body_over_the_limit_is_413(limited: str) -> None:
    system = {"Authorization": f"Bearer {token('SYSTEM')}"}
    metadata = {"blob": "x" * MAX_BODY}
    path = f"{limited}/wallets/{uuid.uuid4()}/transactions"
    body = {"amount": "1.00", "type": "CREDIT", "metadata": metadata}
    r = httpx.post(path, json=body, headers=system)
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert str(MAX_BODY) in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield json.dumps(body).encode()

    r = httpx.post(path, content=chunks(), headers={**system, "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE", r.text


def test_the_default_body_limit_takes_a_batch_of_1000_postings(company: Company) -> None:
    """4 MiB by default: a 1,000-posting batch with some metadata fits, 5 MiB does not."""
    alice = company.member()
    postings = [
        {
            "wallet_id": alice.wallet_id,
            "amount": "0.01",
            "type": "CREDIT",
            "reference_id": f"R-{i}",
            "metadata": {"trip": "T" * 1000, "leg": i},
        }
        for i in range(1000)
    ]
    r = company.system.post("/transactions/batch", json={"postings": postings})
    assert r.status_code == 200, r.text[:300]
    assert company.wallet(alice)["balance"] == "10.00"
    r = company.system.post("/transactions/batch", json={"postings": postings * 5})
    assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE", r.text[:300]


@pytest.mark.parametrize("size", [MAX_HEADERS + 100, 16 * 1024 * 1024])
def test_headers_over_the_limit_are_431(limited: str, size: int) -> None:
    with _connect(limited) as sock:
        request = (
            b"GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"a" * size + b"\r\n\r\n"
        )
        try:
            sock.sendall(request)
        except OSError:
            pass  # the server may refuse and close before the whole 16 MB is sent
        status, headers, body = _read_response(sock)
    assert status == 431
    assert headers["content-type"].startswith("application/problem+json")
    _problem(body, 431, "REQUEST_HEADERS_TOO_LARGE")
    assert httpx.get(f"{limited}/health").status_code == 200


def test_a_head_near_the_limit_sent_with_its_body_is_served(limited: str) -> None:
    """The head limit counts the head only, even when head and body arrive in one packet."""
    body = json.dumps({"event_type": "Nothing", "data": {"pad": "p" * 50_000}}).encode()
    head = (
        b"POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nAuthorization: Bearer "
        + token("SYSTEM").encode()
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n"
    )
    head += b"X-Pad: " + b"p" * (MAX_HEADERS - len(head) - 100) + b"\r\n\r\n"
    with _connect(limited) as sock:
        sock.sendall(head + body)
        status, _, answer = _read_response(sock)
    assert status == 422, answer  # an unknown event type: read, parsed and refused by the app
    _problem(answer, 422, "VALIDATION_ERROR")


def test_a_client_trickling_its_headers_is_cut_off(limited: str) -> None:
    with _connect(limited) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        _trickle(sock, b"X-Slow: 1\r\n")
        elapsed = time.monotonic() - started
        status, _, body = _read_response(sock)
    assert status == 408
    _problem(body, 408, "REQUEST_TIMEOUT")
    assert elapsed < READ_TIMEOUT_S + 2


def test_a_client_that_sends_nothing_is_cut_off(limited: str) -> None:
    with _connect(limited) as sock:
        started = time.monotonic()
        status, _, body = _read_response(sock)
        assert time.monotonic() - started < READ_TIMEOUT_S + 2
    assert status == 408
    _problem(body, 408, "REQUEST_TIMEOUT")


def test_a_client_trickling_its_body_is_cut_off(limited: str) -> None:
    with _connect(limited) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token("SYSTEM").encode() + b"\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        _trickle(sock, b" ")
        elapsed = time.monotonic() - started
        status, _, body = _read_response(sock)
    assert status == 408
    _problem(body, 408, "REQUEST_TIMEOUT")
    assert elapsed < READ_TIMEOUT_S + 2


def test_a_slow_but_steady_keep_alive_client_is_served(limited: str) -> None:
    """The timeout applies per request: a connection reused for several requests, each sent
    promptly, is not cut off however long it lives."""
    with httpx.Client(base_url=limited) as client:
        for _ in range(3):
            assert client.get("/health").status_code == 200
            time.sleep(READ_TIMEOUT_S * 0.6)
