"""A NATS operator, an account and users signed as ``nsc`` would sign them, for the tests of
decentralised (JWT) authentication: NATS JWTs are ``header.claims.signature`` in base64url,
signed with the issuer's Ed25519 NKey. Tests only; a deployment makes these with ``nsc``."""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass

import nacl.signing
import nkeys  # type: ignore[import-untyped]
import orjson

HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}
UNLIMITED = {
    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": True,
    "conn": -1, "leaf": -1, "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
}  # fmt: skip


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass(frozen=True)
class Identity:
    """An NKey pair of one kind (operator, account or user)."""

    seed: bytes

    @classmethod
    def new(cls, prefix: int) -> Identity:
        raw = bytes(nacl.signing.SigningKey.generate())
        return cls(bytes(nkeys.encode_seed(raw, prefix)))

    @property
    def public(self) -> str:
        return str(nkeys.from_seed(bytearray(self.seed)).public_key.decode())

    def sign(self, subject: Identity, name: str, nats: dict[str, object]) -> str:
        """A JWT about ``subject`` issued by this identity."""
        claims: dict[str, object] = {
            "iat": int(time.time()), "iss": self.public, "name": name, "sub": subject.public,
            "nats": {**nats, "version": 2},
        }  # fmt: skip
        claims["jti"] = base64.b32encode(hashlib.sha256(orjson.dumps(claims)).digest()).decode()
        head = _b64(orjson.dumps(HEADER)) + "." + _b64(orjson.dumps(claims))
        signature = nkeys.from_seed(bytearray(self.seed)).sign(head.encode())
        return head + "." + _b64(bytes(signature))


@dataclass(frozen=True)
class Operator:
    """An operator with a system account and one JetStream-enabled account;
    :meth:`server_config` makes a server trust it."""

    operator: Identity
    system: Identity
    account: Identity

    @classmethod
    def new(cls) -> Operator:
        account = nkeys.PREFIX_BYTE_ACCOUNT
        return cls(Identity.new(nkeys.PREFIX_BYTE_OPERATOR), Identity.new(account),
                   Identity.new(account))  # fmt: skip

    def server_config(self) -> str:
        op = self.operator.sign(
            self.operator, "lake-operator",
            {"type": "operator", "system_account": self.system.public},
        )  # fmt: skip
        system = self.operator.sign(self.system, "SYS", {"type": "account"})
        acc = self.operator.sign(
            self.account, "lake-account", {"type": "account", "limits": UNLIMITED}
        )
        return (
            f'operator: "{op}"\nsystem_account: {self.system.public}\nresolver: MEMORY\n'
            f'resolver_preload: {{ {self.system.public}: "{system}", '
            f'{self.account.public}: "{acc}" }}\n'
        )

    def creds(self, publish: list[str], subscribe: list[str]) -> str:
        """A new user's ``.creds`` file text (its JWT and NKey seed), with these permissions."""
        user = Identity.new(nkeys.PREFIX_BYTE_USER)
        jwt = self.account.sign(
            user, "lake-node",
            {"type": "user", "pub": {"allow": publish}, "sub": {"allow": subscribe},
             "subs": -1, "data": -1, "payload": -1},
        )  # fmt: skip
        return (
            f"-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n"
            "NKEYs are sensitive and should be treated as secrets.\n\n"
            f"-----BEGIN USER NKEY SEED-----\n{user.seed.decode()}\n"
            "------END USER NKEY SEED------\n\n"
            "*************************************************************\n"
        )
