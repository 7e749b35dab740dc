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


# Verified tokens are cached per process until they expire.


def test_a_cached_token_is_refused_once_it_expires() -> None:
    verifier = TokenVerifier(TEST_SECRET, ["HS256"], leeway=0)
    short = jwt.encode(_claims(exp=time.time() + 1), TEST_SECRET, algorithm="HS256")
    for _ in range(3):  # the first call verifies and caches, the next ones hit the cache
        assert verifier.verify(short).role is Role.ADMIN
    assert verifier.cached == 1
    time.sleep(1.2)
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(short)
    assert verifier.cached == 0


def test_a_cache_entry_never_outlives_the_tokens_exp() -> None:
    """With a clock that runs ahead of the signature check's, the entry lapses at `exp` on the
    cache's own clock, whatever the leeway: the token is verified again from scratch."""
    now = [time.time()]
    verifier = TokenVerifier(TEST_SECRET, ["HS256"], clock=lambda: now[0])
    exp = int(now[0]) + 60
    verifier.verify(jwt.encode(_claims(exp=exp), TEST_SECRET, algorithm="HS256"))
    assert verifier.cached == 1
    now[0] = exp - 0.001
    assert verifier.cached == 1
    now[0] = exp
    assert verifier.cached == 0


def test_tokens_that_do_not_verify_are_never_cached() -> None:
    verifier = TokenVerifier(TEST_SECRET, ["HS256"])
    good = jwt.encode(_claims(), TEST_SECRET, algorithm="HS256")
    verifier.verify(good)
    header, payload, signature = good.split(".")
    tampered_sig = f"{header}.{payload}.{signature[:-4]}AAAA"
    forged_claims = jwt.encode(_claims(role="SYSTEM"), "x" * 40, algorithm="HS256")
    for bad in [tampered_sig, forged_claims, *(make() for make in BAD_TOKENS.values())]:
        for _ in range(2):
            with pytest.raises(Unauthenticated):
                verifier.verify(bad)
    assert verifier.cached == 1  # the good token only


def test_the_cache_is_bounded() -> None:
    verifier = TokenVerifier(TEST_SECRET, ["HS256"], cache_size=50)
    tokens = [jwt.encode(_claims(), TEST_SECRET, algorithm="HS256") for _ in range(200)]
    callers = [verifier.verify(t) for t in tokens]
    assert verifier.cached == 50
    # evicted tokens still verify (again from scratch), each to its own caller
    assert [verifier.verify(t) for t in tokens] == callers


def test_an_expired_token_is_refused_over_http_after_being_used(base_url: str) -> None:
    """A token used while valid (so cached by the server) answers 401 once it has expired and
    the 5 s leeway for clock skew has passed."""
    exp = int(time.time()) + 1
    short = token("ADMIN", company_id=uuid.uuid4(), exp=exp)
    assert _get_wallets(base_url, short).status_code == 200
    assert _get_wallets(base_url, short).status_code == 200
    time.sleep(max(0.0, exp + 5 + 0.3 - time.time()))
    r = _get_wallets(base_url, short)
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "UNAUTHENTICATED"
