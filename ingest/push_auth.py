"""Verify the OIDC token Pub/Sub attaches to authenticated push requests.

Production push subscriptions send `Authorization: Bearer <Google-signed ID token>`
with the configured audience and the push service account's email. The
emulator sends none (seen here), so this is off unless APOA_PUSH_AUDIENCE is set.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from dataclasses import dataclass

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")


@dataclass(frozen=True)
class PushAuthConfig:
    audience: str | None = None
    service_account_email: str | None = None
    certs_url: str = GOOGLE_CERTS_URL

    @property
    def enabled(self) -> bool:
        return bool(self.audience)

    @classmethod
    def from_env(cls) -> PushAuthConfig:
        return cls(
            audience=os.environ.get("APOA_PUSH_AUDIENCE") or None,
            service_account_email=os.environ.get("APOA_PUSH_SERVICE_ACCOUNT") or None,
            certs_url=os.environ.get("APOA_PUSH_CERTS_URL", GOOGLE_CERTS_URL),
        )


class AuthFailure(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _CertCache:
    """Google's signing certificates, fetched at most once an hour."""

    def __init__(self, ttl_seconds: float = 3600) -> None:
        self._ttl = ttl_seconds
        self._certs: dict[str, dict[str, str]] = {}
        self._fetched: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, url: str, refresh: bool = False) -> dict[str, str]:
        with self._lock:
            fresh = time.monotonic() - self._fetched.get(url, -1e9) < self._ttl
            if refresh or not fresh:
                with urllib.request.urlopen(url, timeout=10) as response:
                    self._certs[url] = json.loads(response.read())
                self._fetched[url] = time.monotonic()
            return self._certs[url]


_certs = _CertCache()


def verify_push(authorization: str | None, config: PushAuthConfig) -> dict:
    """Return the token's claims, or raise AuthFailure(401 or 403, reason)."""
    from google.auth import exceptions, jwt

    if not authorization or not authorization.startswith("Bearer "):
        raise AuthFailure(401, "missing bearer token")
    token = authorization[len("Bearer ") :].strip()
    try:
        certs = _certs.get(config.certs_url)
        try:
            claims = jwt.decode(token, certs=certs, audience=config.audience)
        except ValueError as error:
            if "Certificate for key id" not in str(error):
                raise
            # Google rotated its keys since we cached them.
            claims = jwt.decode(
                token, certs=_certs.get(config.certs_url, refresh=True), audience=config.audience
            )
    except (ValueError, exceptions.GoogleAuthError) as error:
        raise AuthFailure(401, f"invalid token: {error}") from None
    except OSError as error:
        raise AuthFailure(503, f"cannot fetch signing certificates: {error}") from None
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise AuthFailure(401, f"token issuer {claims.get('iss')!r} is not Google")
    if config.service_account_email and (
        claims.get("email") != config.service_account_email or not claims.get("email_verified")
    ):
        raise AuthFailure(403, f"token email {claims.get('email')!r} is not the push account")
    return claims
