"""Authentication: only tokens signed with the configured key, unexpired, with every required
claim, are accepted; everything else is 401 UNAUTHENTICATED in problem+json."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.support import TEST_SECRET, Company, token
from wallet_service.auth.caller import Role
from wallet_service.auth.tokens import TokenVerifier, issue_token
from wallet_service.config import Settings
from wallet_service.errors import Unauthenticated


def _unsigned(claims: dict[str, object]) -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _claims(**overrides: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "sub": str(uuid.uuid4()),
        "role": "ADMIN",
        "company_id": str(uuid.uuid4()),
        "exp": int(time.time()) + 600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _get_wallets(base_url: str, bearer: str | None, scheme: str = "Bearer") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {bearer}"} if bearer is not None else {}
    return httpx.get(f"{base_url}/wallets", headers=headers)


BAD_TOKENS: dict[str, Callable[[], str]] = {
    "forged with another secret": lambda: token("ADMIN", company_id=uuid.uuid4(), secret="x" * 40),
    "expired": lambda: token("ADMIN", company_id=uuid.uuid4(), ttl=-120),
    "alg none": lambda: _unsigned(_claims()),
    "missing sub": lambda: jwt.encode(_claims(sub=None), TEST_SECRET, algorithm="HS256"),
    "missing role": lambda: jwt.encode(_claims(role=None), TEST_SECRET, algorithm="HS256"),
    "missing exp": lambda: jwt.encode(_claims(exp=None), TEST_SECRET, algorithm="HS256"),
    "missing company_id": lambda: jwt.encode(
        _claims(company_id=None), TEST_SECRET, algorithm="HS256"
    ),
    "unknown role": lambda: jwt.encode(_claims(role="ROOT"), TEST_SECRET, algorithm="HS256"),
    "sub not a uuid": lambda: jwt.encode(_claims(sub="alice"), TEST_SECRET, algorithm="HS256"),
    "company not a uuid": lambda: jwt.encode(
        _claims(company_id="acme"), TEST_SECRET, algorithm="HS256"
    ),
    "HS512 instead of HS256": lambda: jwt.encode(_claims(), TEST_SECRET, algorithm="HS512"),
    "garbage": lambda: "not.a.jwt",
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_bad_tokens_are_refused(base_url: str, case: str) -> None:
    r = _get_wallets(base_url, BAD_TOKENS[case]())
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "UNAUTHENTICATED"
    assert body["status"] == 401
    assert TEST_SECRET not in r.text


def test_missing_header_and_wrong_scheme_are_refused(base_url: str) -> None:
    assert _get_wallets(base_url, None).json()["code"] == "UNAUTHENTICATED"
    good = token("ADMIN", company_id=uuid.uuid4())
    assert _get_wallets(base_url, good, scheme="Basic").status_code == 401


def test_valid_token_is_accepted(base_url: str) -> None:
    assert _get_wallets(base_url, token("ADMIN", company_id=uuid.uuid4())).status_code == 200


def test_system_token_needs_no_company(company: Company) -> None:
    assert company.system.get("/wallets").status_code == 200


def test_open_endpoints_need_no_token(base_url: str) -> None:
    for path in ("/health", "/ready", "/metrics", "/openapi.json", "/docs"):
        assert httpx.get(f"{base_url}{path}").status_code == 200, path


def _pem_pair(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    private = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_rs256_and_es256_with_a_public_key() -> None:
    rsa_private, rsa_public = _pem_pair(
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    verifier = TokenVerifier.from_settings(Settings(jwt_public_key=rsa_public))
    caller = verifier.verify(jwt.encode(_claims(role="MANAGER"), rsa_private, algorithm="RS256"))
    assert caller.role is Role.MANAGER

    ec_private, ec_public = _pem_pair(ec.generate_private_key(ec.SECP256R1()))
    verifier = TokenVerifier.from_settings(Settings(jwt_public_key=ec_public))
    assert verifier.verify(jwt.encode(_claims(), ec_private, algorithm="ES256")).role is Role.ADMIN

    # key confusion: an HS256 token "signed" with the public key text must not verify
    with pytest.raises(Unauthenticated):
        TokenVerifier.from_settings(Settings(jwt_public_key=rsa_public)).verify(
            jwt.encode(_claims(), "another-secret-of-enough-length-0123456789", algorithm="HS256")
        )


def test_dev_secret_is_generated_once_and_tokens_verify(tmp_path: object) -> None:
    from pathlib import Path

    settings = Settings(data_dir=Path(str(tmp_path)) / "data")
    company_id = uuid.uuid4()
    first = issue_token(settings, role=Role.ADMIN, sub=uuid.uuid4(), company_id=company_id)
    second = issue_token(settings, role=Role.USER, sub=uuid.uuid4(), company_id=company_id)
    verifier = TokenVerifier.from_settings(settings)
    assert verifier.verify(first).company_id == company_id
    assert verifier.verify(second).role is Role.USER
    secret_file = settings.data_dir / "jwt-dev-secret"
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
