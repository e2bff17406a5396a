"""AppSecrets: the app's runtime secrets in one Secrets Manager secret.

Creates:
- ``SECRET_KEY``: a ``pulumi_random.RandomPassword`` of 64 characters, unless the stack sets the
  secret config key ``secretKey`` (then that value is used and nothing is generated);
- a Secrets Manager secret and its current version, a JSON object with ``SECRET_KEY``,
  ``REDIS_URL`` (when there is a cache), ``SENTRY_DSN`` (when the stack sets ``sentryDsn``) and
  ``DATABASE_APP_PASSWORD`` (generated: the app's own database role, see
  ``ensure_app_role`` in ``djangostack.targets.aws.host_integration``).

The master password is not here: RDS keeps it in its own managed secret and rotates it. The hosts read both
secrets with ``aws secretsmanager get-secret-value`` (instance role) at boot and at every release
and write the env file themselves; user data, tags and stack files only ever carry the ARNs.
Every value passed in is a Pulumi secret, and so is the version's ``secret_string``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

SECRET_KEY_LENGTH = 64
DB_APP_PASSWORD_LENGTH = 40
"""Letters and digits only: no quoting anywhere (PostgreSQL allows passwords far longer)."""
SECRET_KEY_SPECIALS = "!#%+-.:=@^_~"
"""Punctuation allowed in a generated SECRET_KEY: none needs quoting in an env file or shell."""


@dataclass(frozen=True)
class AppSecretsArgs:
    """Inputs of ``AppSecrets``."""

    secret_key: pulumi.Input[str] | None = None
    """The stack's ``secretKey``; None: generate one."""
    redis_url: pulumi.Input[str] | None = None
    sentry_dsn: pulumi.Input[str] | None = None
    database_app_password: bool = False
    """Generate ``DATABASE_APP_PASSWORD``, the password of the app's own database role."""
    recovery_window_days: int = 30
    """Days a deleted secret can be restored (0: delete at once, for throwaway stacks)."""
    tags: dict[str, str] = field(default_factory=dict)


class AppSecrets(pulumi.ComponentResource):
    """SECRET_KEY, REDIS_URL and SENTRY_DSN for the hosts, by reference."""

    secret_arn: pulumi.Output[str]
    """ARN of the Secrets Manager secret holding the JSON document."""
    version: aws.secretsmanager.SecretVersion

    def __init__(self, name: str, args: AppSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("djangostack:aws:AppSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        secret_key: pulumi.Input[str]
        if args.secret_key is not None:
            secret_key = args.secret_key
        else:
            secret_key = random.RandomPassword(
                f"{name}-secret-key",
                length=SECRET_KEY_LENGTH,
                special=True,
                override_special=SECRET_KEY_SPECIALS,
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
            ).result
        document: dict[str, pulumi.Input[str]] = {"SECRET_KEY": secret_key}
        if args.database_app_password:
            # The app's own database role: RDS rotates only the master password, never this one.
            document["DATABASE_APP_PASSWORD"] = random.RandomPassword(
                f"{name}-db-app-password",
                length=DB_APP_PASSWORD_LENGTH,
                special=False,
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["result"]),
            ).result
        if args.redis_url is not None:
            document["REDIS_URL"] = args.redis_url
        if args.sentry_dsn is not None:
            document["SENTRY_DSN"] = args.sentry_dsn
        secret_string: pulumi.Output[str] = pulumi.Output.secret(pulumi.Output.json_dumps(document))
        secret = aws.secretsmanager.Secret(
            f"{name}-app",
            description=f"{name}: Django runtime secrets (JSON)",
            recovery_window_in_days=args.recovery_window_days,
            tags=args.tags,
            opts=child,
        )
        self.version = aws.secretsmanager.SecretVersion(
            f"{name}-app",
            secret_id=secret.id,
            secret_string=secret_string,
            opts=child,
        )
        self.secret_arn = secret.arn
        self.register_outputs({"secretArn": self.secret_arn})
