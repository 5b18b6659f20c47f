"""Token encryption at rest (Fernet, with key rotation through MultiFernet)."""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class TokenDecryptError(RuntimeError):
    """A stored token could not be decrypted with any configured key."""


class TokenCipher:
    """Encrypts tokens with the first key; decrypts with any (comma-separated keys rotate)."""

    def __init__(self, keys: str) -> None:
        fernets = [Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()]
        self._fernet = MultiFernet(fernets)  # ValueError without a key
        self._first = fernets[0]

    def encrypt(self, token: str | None) -> str | None:
        return None if token is None else self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, blob: str | None) -> str | None:
        if blob is None:
            return None
        try:
            return self._fernet.decrypt(blob.encode()).decode()
        except InvalidToken:
            raise TokenDecryptError("stored token does not decrypt with TOKEN_ENCRYPTION_KEY") from None

    def rotated(self, blob: str) -> str | None:
        """`blob` encrypted with the first key instead (MultiFernet.rotate keeps its timestamp), or None
        when it already is; TokenDecryptError when no key decrypts it."""
        try:
            self._first.decrypt(blob.encode())
            return None
        except InvalidToken:
            pass
        try:
            return self._fernet.rotate(blob.encode()).decode()
        except InvalidToken:
            raise TokenDecryptError("stored token does not decrypt with TOKEN_ENCRYPTION_KEY") from None

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()
