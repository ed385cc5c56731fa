"""A stand-in Cognito user pool for tests without a server: an RSA key, its JWKS, and ID tokens.

Tokens are made with PyJWT exactly as Cognito makes them (RS256, ``kid`` in
the header, ``iss`` the pool, ``aud`` the app client, ``token_use: id``); the
code under test verifies them with the JWKS this hands to its fetcher.
"""
from __future__ import annotations

import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool"
CLIENT_ID = "testclient123"
KID = "test-key-1"


class FakePool:
    def __init__(self, kid: str = KID) -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.fetches: list[str] = []

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def fetch(self, url: str) -> dict[str, Any]:
        """What AgentTokens calls for the JWKS URL (counted, so caching can be tested)."""
        self.fetches.append(url)
        return self.jwks()

    def id_token(self, sub: str, email: str = "", name: str = "", *, aud: str = CLIENT_ID, iss: str = ISSUER,
                 token_use: str = "id", expires_in: int = 3600, kid: str | None = None,
                 key: Any = None, **extra: Any) -> str:
        now = int(time.time())
        claims = {"sub": sub, "iss": iss, "aud": aud, "token_use": token_use, "iat": now, "auth_time": now,
                  "exp": now + expires_in, "email": email, **extra}
        if name:
            claims["name"] = name
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})


AGENT_ENV = {"PARLEY_COGNITO_ISSUER": ISSUER, "PARLEY_COGNITO_CLIENT_ID": CLIENT_ID,
             "PARLEY_COGNITO_JWKS_URL": "http://127.0.0.1:1/pool/.well-known/jwks.json",
             "PARLEY_CONSOLE_ORIGINS": "http://127.0.0.1:8090"}
