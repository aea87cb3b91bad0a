"""NATS credentials and TLS, against a real ``nats-server`` that demands them: a node
started with a user and password (least-privilege permissions) over mutual TLS serves;
admin commands reach the lake with an NKey seed file; a node and ``status`` connect with a
``.creds`` file of a trusted operator's account (JWT auth); a token server takes its token; a
wrong password, token or CA is refused at once with a clear error; no secret is ever
printed or logged.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nkeys  # type: ignore[import-untyped]
import orjson
import pytest
import trustme

from lakehose.storage.jetstream.devcluster import DevCluster
from lakehose.testing import RunningServer, run_server
from tests.cluster.clusterkit import send
from tests.cluster.natsjwt import Operator

PASSWORD = "pw-5d1f0c2a-never-shown"
TOKEN = "tok-8e2b6a91-never-shown"
NS = "authlake"


def publish_allowed(namespace: str) -> list[str]:
    """What a lakehose node needs to publish to: the JetStream API, its lake's subjects and
    key-value buckets (with replies on inboxes, the README's cluster section shows this)."""
    buckets = [f"$KV.{namespace.upper()}_{b}.>" for b in ("CATALOG", "ACKS", "LOG", "NODES")]
    return ["$JS.API.>", "$JS.ACK.>", "$JS.FC.>", f"{namespace}.>", *buckets]


PERMISSIONS = (
    f'{{ publish: {orjson.dumps(publish_allowed(NS)).decode()}, subscribe: ["_INBOX.>"] }}'
)


class Files:
    """A CA, the server's and the client's certificates, a second CA, an NKey seed file."""

    def __init__(self, root: Path) -> None:
        ca, self.other_ca = trustme.CA(), trustme.CA()
        self.ca, self.other = root / "ca.pem", root / "other-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca))
        self.other_ca.cert_pem.write_to_path(str(self.other))
        server = ca.issue_cert("127.0.0.1", "localhost")
        self.server_cert, self.server_key = root / "server.pem", root / "server.key"
        server.cert_chain_pems[0].write_to_path(str(self.server_cert))
        server.private_key_pem.write_to_path(str(self.server_key))
        client = ca.issue_cert("lakehose-node")
        self.client_cert, self.client_key = root / "client.pem", root / "client.key"
        client.cert_chain_pems[0].write_to_path(str(self.client_cert))
        client.private_key_pem.write_to_path(str(self.client_key))
        seed = nkeys.from_seed(_new_seed())
        self.nkey_public = seed.public_key.decode()
        self.nkey = root / "admin.nk"
        self.nkey.write_bytes(seed.seed)
        self.nkey.chmod(0o600)


def _new_seed() -> bytes:
    import nacl.signing

    raw = bytes(nacl.signing.SigningKey.generate())
    return bytes(nkeys.encode_seed(raw, nkeys.PREFIX_BYTE_USER))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return Files(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def secured(files: Files, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    """One NATS server: mutual TLS, a user with a password and an NKey user, both limited."""
    extra = (
        f'tls {{ cert_file: "{files.server_cert}", key_file: "{files.server_key}", '
        f'ca_file: "{files.ca}", verify: true }}\n'
        f"authorization {{ users = [\n"
        f'  {{ user: lake, password: "{PASSWORD}", permissions: {PERMISSIONS} }}\n'
        f'  {{ nkey: "{files.nkey_public}", permissions: {PERMISSIONS} }}\n'
        f"] }}\n"
    )
    with DevCluster(tmp_path_factory.mktemp("nats"), nodes=1, extra=extra) as cluster:
        yield cluster


def _tls_env(files: Files) -> dict[str, str]:
    return {
        "LAKEHOSE_CLUSTER_TLS_CA": str(files.ca),
        "LAKEHOSE_CLUSTER_TLS_CERT": str(files.client_cert),
        "LAKEHOSE_CLUSTER_TLS_KEY": str(files.client_key),
        "LAKEHOSE_CLUSTER_NAMESPACE": NS,
    }


def _lh(urls: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOSE_")}
    return subprocess.run(
        [sys.executable, "-m", "lakehose", *args, "--cluster", urls],
        capture_output=True, text=True, env={**clean, **env}, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def node(
    secured: DevCluster, files: Files, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    env = {**_tls_env(files), "LAKEHOSE_CLUSTER_PASSWORD": PASSWORD}
    args = ["--cluster", secured.urls, "--cluster-replicas", "1", "--cluster-user", "lake"]
    with run_server(tmp_path_factory.mktemp("node") / "data", args=args, env=env) as running:
        yield running


def test_a_node_with_a_password_over_mutual_tls_serves(
    node: RunningServer, secured: DevCluster, files: Files
) -> None:
    assert node.api_key is not None
    assert send(node, node.api_key, [{"n": 1}]).status_code == 200
    # an admin command with the NKey seed file, TLS files as flags
    shown = _lh(
        secured.urls, {"LAKEHOSE_CLUSTER_NAMESPACE": NS}, "status", "--json",
        "--cluster-nkey", str(files.nkey), "--cluster-tls-ca", str(files.ca),
        "--cluster-tls-cert", str(files.client_cert), "--cluster-tls-key", str(files.client_key),
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    cluster = orjson.loads(shown.stdout)["cluster"]
    assert [n["url"] for n in cluster["nodes"]] == [node.url]
    assert PASSWORD not in shown.stdout + shown.stderr


def test_wrong_credentials_are_refused_at_once_and_never_shown(
    node: RunningServer, secured: DevCluster, files: Files
) -> None:
    wrong = "wrong-pw-3c9e-never-shown"
    env = {**_tls_env(files), "LAKEHOSE_CLUSTER_USER": "lake", "LAKEHOSE_CLUSTER_PASSWORD": wrong}
    refused = _lh(secured.urls, env, "connector", "list")
    assert refused.returncode != 0
    assert "refused the connection (user 'lake' and password, TLS" in refused.stderr
    assert "Authorization Violation" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr  # the error alone
    assert wrong not in refused.stdout + refused.stderr
    # the same in the URL (a secret there still never shows)
    in_url = secured.nodes[0].url.replace("nats://", f"nats://lake:{wrong}@")
    refused = _lh(in_url, _tls_env(files), "connector", "list")
    assert refused.returncode != 0 and wrong not in refused.stdout + refused.stderr
    assert "refused the connection (credentials in the URL, TLS (CA" in refused.stderr, (
        refused.stderr
    )
    # a server certificate that the given CA did not sign
    other = {
        **env,
        "LAKEHOSE_CLUSTER_PASSWORD": PASSWORD,
        "LAKEHOSE_CLUSTER_TLS_CA": str(files.other),
    }
    untrusted = _lh(secured.urls, other, "connector", "list")
    assert untrusted.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    assert PASSWORD not in untrusted.stdout + untrusted.stderr
    # nor does the running node print or log its password
    assert PASSWORD not in "\n".join(node.output) + node.logs()


def test_a_token_is_taken_and_a_wrong_one_refused(tmp_path: Path) -> None:
    extra = f'authorization {{ token: "{TOKEN}" }}\n'
    with DevCluster(tmp_path / "nats", nodes=1, extra=extra) as cluster:
        env = {"LAKEHOSE_CLUSTER_NAMESPACE": "tokenlake", "LAKEHOSE_CLUSTER_REPLICAS": "1"}
        env["LAKEHOSE_CLUSTER_TOKEN"] = TOKEN
        reached = _lh(cluster.urls, env, "connector", "list")  # connected: no lake there yet
        assert "holds no lake named 'tokenlake'" in reached.stderr, reached.stderr
        refused = _lh(cluster.urls, {**env, "LAKEHOSE_CLUSTER_TOKEN": "bad-token"}, "status")
    assert refused.returncode != 0 and "refused the connection (token)" in refused.stderr
    for out in (reached, refused):
        assert TOKEN not in out.stdout + out.stderr and "bad-token" not in out.stderr


def test_a_creds_file_of_a_trusted_operator_is_taken_and_a_foreign_one_refused(
    tmp_path: Path,
) -> None:
    """Decentralised auth, as ``nsc`` sets it up: the server trusts an operator, whose account
    signed the node's user JWT; the node and an admin command connect with the ``.creds``
    file; a user of an operator the server does not trust is refused."""
    namespace, operator = "credslake", Operator.new()
    creds, foreign = tmp_path / "node.creds", tmp_path / "foreign.creds"
    creds.write_text(operator.creds(publish_allowed(namespace), ["_INBOX.>"]))
    foreign.write_text(Operator.new().creds(publish_allowed(namespace), ["_INBOX.>"]))
    seeds = [line for f in (creds, foreign) for line in f.read_text().splitlines()
             if line.startswith("SU")]  # fmt: skip
    assert len(seeds) == 2
    env = {"LAKEHOSE_CLUSTER_NAMESPACE": namespace}
    with DevCluster(tmp_path / "nats", nodes=1, extra=operator.server_config()) as cluster:
        args = ["--cluster", cluster.urls, "--cluster-replicas", "1", "--cluster-creds", str(creds)]
        with run_server(tmp_path / "data", args=args, env=env) as node:
            assert node.api_key is not None
            assert send(node, node.api_key, [{"n": 1}, {"n": 2}]).status_code == 200
            shown = _lh(cluster.urls, env, "status", "--json", "--cluster-creds", str(creds))
            assert shown.returncode == 0, shown.stderr
            assert [n["url"] for n in orjson.loads(shown.stdout)["cluster"]["nodes"]] == [node.url]
            logged = "\n".join(node.output) + node.logs()
        refused = _lh(cluster.urls, env, "status", "--cluster-creds", str(foreign))
    assert refused.returncode != 0
    assert f"refused the connection (credentials file {foreign}" in refused.stderr, refused.stderr
    for seed in seeds:
        assert seed not in shown.stdout + shown.stderr + refused.stdout + refused.stderr + logged
