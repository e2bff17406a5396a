"""``domain``: custom hostnames and their certificates."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    model_validator,
)

from .fields import Email, Hostname, SettingsModel


class TlsSettings(SettingsModel):
    """How the certificate for the custom domains is obtained."""

    mode: Literal["letsencrypt", "acm", "managed", "self-signed"]
    """letsencrypt (hosts), acm (AWS), managed (Google-managed) or self-signed (tests)."""
    email: Email | None = None
    """ACME account email (letsencrypt)."""
    route53_zone_id: Annotated[str, Field(max_length=100, pattern=r"^Z[A-Z0-9]{1,31}$")] | None = None
    """acm: a Route 53 hosted zone for DNS validation records; unset: validate by hand."""

    @model_validator(mode="after")
    def _email_for_letsencrypt(self) -> TlsSettings:
        if self.mode == "letsencrypt" and not self.email:
            raise ValueError("email: letsencrypt needs an email for expiry notices")
        return self


class DomainSettings(SettingsModel):
    """Public hostnames. Empty: the platform address (IP, load balancer or run.app URL)."""

    names: Annotated[list[Hostname], Field(max_length=100)] = []
    """At most 100: Let's Encrypt's limit of names per certificate
    (https://letsencrypt.org/docs/rate-limits/) and ACM's highest names-per-certificate quota
    (https://docs.aws.amazon.com/acm/latest/userguide/acm-limits.html; the default is 10)."""
    tls: TlsSettings | None = None
    """How the certificate for names is obtained; needed when names is set."""

    @model_validator(mode="after")
    def _custom_domain_needs_tls(self) -> DomainSettings:
        if self.names and self.tls is None:
            raise ValueError(
                f"tls: custom domains {self.names} need TLS settings; set domain.tls.mode "
                "(letsencrypt, acm, managed or self-signed)"
            )
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"names: lists a hostname twice ({self.names})")
        return self
