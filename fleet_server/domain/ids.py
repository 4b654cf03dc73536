"""Random identifiers for records people read out: partners, operations, batches."""

import secrets

from protocol import tokens


def new_id(prefix: str = "", length: int = 10) -> str:
    # 50 random bits of base32: short enough to read over the phone, unique in practice (and
    # primary keys make a collision fail loudly rather than merge two operations). One read of
    # the system's randomness; the low 5 bits of a uniform byte are uniform over the alphabet.
    return prefix + "".join(tokens.ALPHABET32[b & 31] for b in secrets.token_bytes(length))
