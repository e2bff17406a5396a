"""A small HTTPS client for the end-to-end tests: keeps cookies, sends CSRF tokens like a browser."""

from __future__ import annotations

import http.client
import json
import ssl
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Browser:
    """Talks to Nginx on 127.0.0.1 over HTTPS (self-signed) as a browser of ``host`` would."""

    host: str
    port: int
    http_port: int
    cookies: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0

    def _connection(self, secure: bool = True) -> http.client.HTTPConnection:
        if secure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=self.timeout, context=context)
        return http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=self.timeout)

    @property
    def origin(self) -> str:
        return f"https://{self.host}" + ("" if self.port == 443 else f":{self.port}")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        secure: bool = True,
        host: str | None = None,
    ) -> Response:
        conn = self._connection(secure)
        all_headers = {"Host": host or (self.host if not secure else self.origin.split("//", 1)[1])}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in sorted(self.cookies.items()))
        all_headers.update(headers or {})
        try:
            conn.request(method, path, body=body, headers=all_headers)
            raw = conn.getresponse()
            data = raw.read()
            response_headers = {k.lower(): v for k, v in raw.getheaders()}
            for header, value in raw.getheaders():
                if header.lower() == "set-cookie":
                    cookie: SimpleCookie = SimpleCookie()
                    cookie.load(value)
                    for key, morsel in cookie.items():
                        self.cookies[key] = morsel.value
            return Response(raw.status, response_headers, data)
        finally:
            conn.close()

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def csrf_headers(self) -> dict[str, str]:
        if "csrftoken" not in self.cookies:
            self.get("/")
        return {"X-CSRFToken": self.cookies["csrftoken"], "Referer": self.origin + "/"}

    def post_form(self, path: str, fields: dict[str, str]) -> Response:
        from urllib.parse import urlencode

        headers = self.csrf_headers()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self.request("POST", path, urlencode(fields).encode(), headers)

    def post_json(self, path: str) -> Response:
        return self.request("POST", path, b"", self.csrf_headers())

    def post_file(
        self, path: str, field_name: str, filename: str, content: bytes, extra: dict[str, str] | None = None
    ) -> Response:
        boundary = uuid.uuid4().hex
        parts: list[bytes] = []
        for key, value in (extra or {}).items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        headers = self.csrf_headers()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        return self.request("POST", path, b"".join(parts), headers)
