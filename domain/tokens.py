"""API and login tokens: random secrets that are only ever stored as their SHA-256.

A token carries 256 bits of randomness, so a fast hash is enough (there is nothing to brute
force); a slow KDF is for low-entropy passwords.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "lw_"
# A login token comes from logging in and expires when idle; an API token lives until revoked.
TOKEN_KINDS = ("login", "api")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
