"""A local HTTPS server speaking the Key Vault secrets REST API, for the real SecretClient.

It behaves like Key Vault where the SDK looks: an unauthenticated request gets 401 with a
``WWW-Authenticate: Bearer authorization=..., resource=...`` challenge; with the bearer token
``GET /secrets/{name}[/{version}]`` answers the secret bundle or 404 ``SecretNotFound``;
``PUT /secrets/{name}`` sets a new version (rotation). The certificate is self-signed for
127.0.0.1 and the client trusts exactly that certificate (TLS is verified, not disabled).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TOKEN = "local-test-token"


def make_cert(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(
            "127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "kv-cert.pem", directory / "kv-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class KeyVaultServer:
    """Threaded HTTPS server on a free loopback port; ``.url``, ``.secrets``, ``.requests``."""

    def __init__(self, directory: Path) -> None:
        self.secrets: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of authorized requests
        self.cert_path, key_path = make_cert(directory)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, body: dict[str, Any] | None,
                      headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                    return True
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self._send(401, {"error": {"code": "Unauthorized", "message": "no token"}}, {
                    "WWW-Authenticate": 'Bearer authorization="https://login.microsoftonline.com/'
                                        '00000000-0000-0000-0000-000000000000", '
                                        'resource="https://vault.azure.net"'})
                return False

            def _name(self) -> str | None:
                parts = urlparse(self.path).path.strip("/").split("/")
                return parts[1] if len(parts) in (2, 3) and parts[0] == "secrets" else None

            def _bundle(self, name: str) -> dict[str, Any]:
                return {"value": server.secrets[name],
                        "id": f"{server.url}/secrets/{name}/{uuid.uuid4().hex}",
                        "attributes": {"enabled": True}}

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                if not self._authorized():
                    return
                server.requests.append(("GET", urlparse(self.path).path.rstrip("/")))
                name = self._name()
                if name is None or name not in server.secrets:
                    self._send(404, {"error": {"code": "SecretNotFound",
                                               "message": f"A secret with (name/id) {name} "
                                                          "was not found in this key vault."}})
                    return
                self._send(200, self._bundle(name))

            def do_PUT(self) -> None:  # noqa: N802
                if not self._authorized():
                    return
                name = self._name()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(("PUT", urlparse(self.path).path.rstrip("/")))
                if name is None:
                    self._send(400, {"error": {"code": "BadParameter", "message": "name"}})
                    return
                server.secrets[name] = body["value"]
                self._send(200, self._bundle(name))

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_path, key_path)
        self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class StaticTokenCredential:
    """A TokenCredential returning a fixed token (no identity provider is reachable here)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(TOKEN, int(dt.datetime.now(dt.UTC).timestamp()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(TOKEN, int(dt.datetime.now(dt.UTC).timestamp()) + 3600)
