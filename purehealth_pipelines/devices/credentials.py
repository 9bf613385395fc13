"""Secrets and their hashes, in Mosquitto's own password-file format.

Why Mosquitto's format (PBKDF2-SHA512, `$7$<iterations>$<salt>$<hash>`, what `mosquitto_passwd` writes):
the same stored hash serves the broker (rendered verbatim into its password file, so no secret ever
touches disk) and the HTTP ingest's token check (verified here), so one credential works on both paths
and one revoke removes it from both. The password-file + ACL-file route was chosen over the
dynamic-security plugin because it needs no extra plugin/config in Debian's Mosquitto 2.0, the
warehouse stays the single source of truth, and `kill -HUP` reloads both files without dropping sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

ITERATIONS = 101  # mosquitto_passwd's default in 2.0; the broker reads the count from each line
SALT_BYTES = 12
# What may appear in a station or sensor id that goes into a username: the password file splits on ':',
# the ACL file on whitespace, and MQTT wildcards must never appear in a topic built from it.
_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def valid_id(value: str) -> bool:
    return bool(_ID.match(value))


def new_secret() -> str:
    """A fresh random secret (URL-safe, ~190 bits): the MQTT password and the HTTP token's secret part."""
    return secrets.token_urlsafe(24)


def hash_secret(secret: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether `secret` matches a `$7$…` hash (constant-time comparison)."""
    try:
        _, kind, iterations, salt, digest = stored.split("$")
        if kind != "7":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.pbkdf2_hmac("sha512", secret.encode(), base64.b64decode(salt), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected, actual)


def http_token(username: str, secret: str) -> str:
    """The HTTP bearer token for a credential: `<username>:<secret>` (':' never occurs in a username)."""
    return f"{username}:{secret}"


def split_token(token: str) -> tuple[str, str] | None:
    username, sep, secret = token.partition(":")
    return (username, secret) if sep and username and secret else None
