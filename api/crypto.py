"""Encryption at rest (AES-256-GCM, `cryptography`) for what the service keeps but must not hold in the
clear: the personal identifiers a business needs to act on (nlp.personal.protected_fields) and the raw
upload while its batch waits to be analysed (api.staging).

Keys: ``KESHENG_SECRET_KEY`` (Settings.secret_key), else the key file (Settings.key_file, default
``<data_dir>/secret.key``, created with mode 0600 on first use). Either holds one or more keys,
comma- or line-separated, each ``ID:BASE64`` (32 bytes, urlsafe base64) or a bare BASE64 key whose id is
derived from it. The first key encrypts; every key decrypts, so a key is rotated by putting a new one
first, running ``kesheng secrets rotate`` (re-encrypts what is stored), then removing the old one.
``kesheng secrets new-key`` prints a fresh key. Keep the key away from the database's backups: whoever
holds both can read the identifiers.

A token is ``enc:v1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>``; what it protects is bound in as
associated data (the field and item it belongs to), so a token copied to another row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from nlp.errors import ConfigError, KeshengError

if TYPE_CHECKING:
    from api.settings import Settings

PREFIX = "enc:v1:"
_NONCE = 12


class DecryptError(KeshengError):
    """A token that no configured key opens (wrong key, tampered, or bound to another field)."""

    code = "E610"


def new_key() -> str:
    """A fresh key as the key file and KESHENG_SECRET_KEY take it (ID:BASE64)."""
    raw = secrets.token_bytes(32)
    return f"{_key_id(raw)}:{base64.urlsafe_b64encode(raw).decode()}"


def _key_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:8]


def _parse_keys(text: str, where: str) -> list[tuple[str, bytes]]:
    keys: list[tuple[str, bytes]] = []
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if not part or part.startswith("#"):
            continue
        kid, _, encoded = part.rpartition(":")
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ConfigError(
                f"{where}: key {len(keys) + 1} is not 32 bytes of base64 (make one: kesheng secrets new-key)"
            )
        keys.append((kid or _key_id(raw), raw))
    if not keys:
        raise ConfigError(f"{where}: no key (make one: kesheng secrets new-key)")
    return keys


@dataclass(frozen=True)
class Keyring:
    """The configured keys, the first of which encrypts."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_text(cls, text: str, where: str) -> Keyring:
        return cls(tuple(_parse_keys(text, where)))

    @classmethod
    def load(cls, secret: str, key_file: Path) -> Keyring:
        """From `secret` (KESHENG_SECRET_KEY) when set, else from `key_file`, created (0600) if absent."""
        if secret.strip():
            return cls.from_text(secret, "KESHENG_SECRET_KEY")
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first
            else:
                with os.fdopen(fd, "w") as out:
                    out.write(new_key() + "\n")
        return cls.from_text(key_file.read_text(encoding="utf-8"), str(key_file))

    @property
    def current(self) -> str:
        return self.keys[0][0]

    def encrypt(self, plaintext: bytes, context: str) -> str:
        kid, raw = self.keys[0]
        nonce = secrets.token_bytes(_NONCE)
        sealed = AESGCM(raw).encrypt(nonce, plaintext, context.encode())
        return f"{PREFIX}{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, context: str) -> bytes:
        if not token.startswith(PREFIX):
            raise DecryptError("not an encrypted value")
        kid, _, body = token[len(PREFIX) :].partition(":")
        raw = dict(self.keys).get(kid)
        if raw is None:
            raise DecryptError(
                f"encrypted with key {kid}, which is not configured (KESHENG_SECRET_KEY or the key file)"
            )
        try:
            data = base64.urlsafe_b64decode(body)
            return AESGCM(raw).decrypt(data[:_NONCE], data[_NONCE:], context.encode())
        except (InvalidTag, ValueError):
            raise DecryptError(f"the value does not open with key {kid} (tampered, or not this field's)") from None

    def encrypt_text(self, text: str, context: str) -> str:
        return self.encrypt(text.encode("utf-8"), context)

    def decrypt_text(self, token: str, context: str) -> str:
        return self.decrypt(token, context).decode("utf-8")

    def rotate(self, token: str, context: str) -> str:
        """The token under the current key (itself when it already is)."""
        if token[len(PREFIX) :].partition(":")[0] == self.current:
            return token
        return self.encrypt(self.decrypt(token, context), context)


@lru_cache(maxsize=8)
def _keyring(secret: str, key_file: Path) -> Keyring:
    return Keyring.load(secret, key_file)


def keyring(settings: Settings) -> Keyring:
    """The service's keyring (read once per secret and key file)."""
    return _keyring(settings.secret_key, settings.key_path())
