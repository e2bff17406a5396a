"""Guardrails every target shares, checked by ``djangostack.validation.validate`` (``check`` and ``up``).

Each rule returns one line per problem naming the full key, the bad value and what is allowed. The
per-target rules live next to their target (``djangostack.targets.aws.rules``, ``djangostack.targets.gcp.rules``).

app.extraEnv
    - Names that change how root, the shell, the dynamic linker, the interpreter, pip or systemd
      socket activation behave are refused (``RESERVED_ENV`` and ``RESERVED_ENV_PREFIXES``): the
      release and bootstrap scripts run as root with this environment nearby, and no Django setting
      needs them.
    - The secrets the stack knows (SECRET_KEY, DATABASE_URL, REDIS_URL, SENTRY_DSN, the database and
      Redis passwords) are refused with the secret config key to use instead.
    - Other secret-looking names are refused too: a name with a word SECRET, SECRETS, PASSWORD,
      PASSWD, PASSPHRASE, TOKEN, CREDENTIAL(S), PRIVATE or DSN, or whose last word is KEY or APIKEY
      (API_KEY, STRIPE_KEY). Names that only describe a secret are allowed: a last word such as ID,
      NAME, TTL, LIFETIME, AGE, PREFIX, HEADER, FILE, PATH or ENABLED (AWS_ACCESS_KEY_ID,
      JWT_TOKEN_LIFETIME, CACHE_KEY_PREFIX), and public keys (``*_PUBLIC_KEY``,
      ``*_PUBLISHABLE_KEY``, ``*_SITE_KEY``).
    - A value that is a URL with a password (``scheme://user:pass@host``) is refused whatever the name.
    - DJANGO_DEBUG / DEBUG set to a true value are refused in staging and prod (a warning in dev);
      ALLOWED_HOSTS containing ``*`` is refused everywhere; SECURE_HSTS_SECONDS=0 is refused in prod.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from ..contract.app_env import app_contract_problems
from .app import ADAPTER_MODULE
from .defaults import ENVIRONMENT_DEFAULTS
from .targets import ServerTarget

if TYPE_CHECKING:  # rules read the settings' types only
    from .stack import StackSettings

RESERVED_ENV = frozenset(
    {
        "BASH_ENV",
        "BASHOPTS",
        "CDPATH",
        "CURL_CA_BUNDLE",
        "ENV",
        "GCONV_PATH",
        "GLOBIGNORE",
        "GUNICORN_CMD_ARGS",
        "HOME",
        "HOSTALIASES",
        "IFS",
        "LOCALDOMAIN",
        "LOGNAME",
        "MALLOC_CHECK_",
        "NODE_OPTIONS",
        "NOTIFY_SOCKET",
        "OPENSSL_CONF",
        "OPENSSL_ENGINES",
        "PATH",
        "PERL5LIB",
        "PERL5OPT",
        "PROMPT_COMMAND",
        "PS4",
        "REQUESTS_CA_BUNDLE",
        "RES_OPTIONS",
        "RUBYLIB",
        "RUBYOPT",
        "SHELL",
        "SHELLOPTS",
        "SSL_CERT_DIR",
        "SSL_CERT_FILE",
        "TMPDIR",
        "USER",
        "VIRTUAL_ENV",
    }
)
"""extraEnv names that change how a shell, the dynamic linker, TLS trust or a process started as root
behaves."""

RESERVED_ENV_PREFIXES = ("LD_", "PYTHON", "BASH_FUNC_", "DYLD_", "PIP_", "GIT_", "SYSTEMD_", "LISTEN_")
"""Whole families: the dynamic linker (LD_PRELOAD), CPython (PYTHONPATH, PYTHONSTARTUP), exported
bash functions, pip (PIP_INDEX_URL decides what a release installs), git, systemd and socket activation."""

KNOWN_SECRETS = {
    "SECRET_KEY": "secretKey",
    "DJANGO_SECRET_KEY": "secretKey",
    "DATABASE_URL": "databaseUrl",
    "DB_PASSWORD": "databasePassword",
    "DATABASE_PASSWORD": "databasePassword",
    "REDIS_URL": "redisUrl",
    "REDIS_PASSWORD": "redisPassword",
    "SENTRY_DSN": "sentryDsn",
}
"""Secrets the stack handles itself: extraEnv names them -> the secret config key to set instead."""

_SECRET_WORDS = frozenset(
    {"SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASSPHRASE", "TOKEN", "CREDENTIAL", "CREDENTIALS", "PRIVATE", "DSN"}
)
_DESCRIPTIVE_LAST_WORDS = frozenset(
    {
        "ID",
        "NAME",
        "TTL",
        "LIFETIME",
        "SECONDS",
        "MINUTES",
        "HOURS",
        "DAYS",
        "AGE",
        "EXPIRY",
        "LENGTH",
        "PREFIX",
        "HEADER",
        "FILE",
        "PATH",
        "ENABLED",
        "REQUIRED",
        "ALGORITHM",
    }
)
_PUBLIC_KEY_WORDS = frozenset({"PUBLIC", "PUBLISHABLE", "SITE"})
_URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@")
_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})


def is_reserved_env_name(name: str) -> bool:
    return name in RESERVED_ENV or name.startswith(RESERVED_ENV_PREFIXES)


def looks_secret(name: str) -> bool:
    """Whether an environment name reads like it holds a secret (see the module docstring)."""
    words = name.split("_")
    if words[-1] in _DESCRIPTIVE_LAST_WORDS:
        return False
    if words[-1] in ("KEY", "APIKEY"):
        return not (len(words) > 1 and words[-2] in _PUBLIC_KEY_WORDS)
    return any(word in _SECRET_WORDS for word in words)


def extra_env_problems(settings: StackSettings) -> list[str]:
    key = "djangostack:app.extraEnv"
    found: list[str] = []
    environment = settings.environment
    for name, value in sorted(settings.app.extra_env.items()):
        if is_reserved_env_name(name):
            found.append(
                f"{key}.{name}: changes how root, the shell or the interpreter behaves (got {name}); "
                "PATH, IFS, ENV, BASH_ENV, HOME, LD_*, PYTHON*, PIP_*, GIT_*, SYSTEMD_*, LISTEN_* and the like "
                "are refused"
            )
        elif name in KNOWN_SECRETS:
            found.append(
                f"{key}.{name}: is a secret the stack manages; remove it and set "
                f"`pulumi config set --secret {KNOWN_SECRETS[name]} <value>`"
            )
        elif looks_secret(name) and value:
            found.append(
                f"{key}.{name}: looks like a secret, and extraEnv is stored in plaintext; keep secrets out of "
                "the stack file (the app reads them from the secret store), or rename it if it is not secret"
            )
        elif _URL_WITH_PASSWORD.search(value):
            found.append(
                f"{key}.{name}: the value is a URL with a password; credentials never go in extraEnv "
                "(use databaseUrl, redisUrl or sentryDsn)"
            )
        elif name in ("DJANGO_DEBUG", "DEBUG") and value.lower() in _TRUE and environment != "dev":
            found.append(
                f"{key}.{name}: Django's debug mode leaks settings and code (got {value!r}); not in {environment}"
            )
        elif name == "ALLOWED_HOSTS" and any(h.strip() == "*" for h in value.split(",")):
            found.append(
                f"{key}.ALLOWED_HOSTS: '*' accepts any Host header (got {value!r}); the targets set the exact hosts"
            )
        elif name == "SECURE_HSTS_SECONDS" and environment == "prod" and value.strip() in ("0", ""):
            found.append(f"{key}.SECURE_HSTS_SECONDS: HSTS must stay on in prod (got {value!r}); use web.hstsSeconds")
    return found


def combination_problems(settings: StackSettings) -> list[str]:
    """Settings that contradict each other whatever the target, one line each."""
    found: list[str] = []
    env = ENVIRONMENT_DEFAULTS[settings.environment]
    if settings.celery.worker and settings.cache.mode == "none":
        found.append(
            "djangostack:celery.worker: Celery needs a broker but cache.mode is 'none' (got worker: true); "
            "set cache.mode to local, external or managed"
        )
    module = settings.app.settings_module
    if settings.app.adapt_settings and (module == ADAPTER_MODULE or module.startswith(ADAPTER_MODULE + ".")):
        found.append(
            f"djangostack:app.settingsModule: with app.adaptSettings it names the app's own settings, "
            f"which {ADAPTER_MODULE} imports (got {module!r})"
        )
    instances = getattr(settings.target, "instances", 1)
    if instances > env.max_instances:
        found.append(
            f"djangostack:target.instances: {instances} is more than {settings.environment} allows "
            f"({env.max_instances}); scale out in staging or prod"
        )
    if settings.app.build is not None and settings.target.kind != "gcp-cloudrun":
        found.append(
            f"djangostack:app.build: only the gcp-cloudrun target builds an image; the {settings.target.kind} "
            "target deploys app.source, remove app.build"
        )
    return found


def cloud_service_problems(settings: StackSettings) -> list[str]:
    """Cloud targets run their own database and Redis (the aws-ec2 and gcp-cloudrun rules call this)."""
    kind = settings.target.kind
    found: list[str] = []
    if settings.database.mode != "managed":
        found.append(
            f"djangostack:database.mode: the {kind} target uses its managed database "
            f"(got {settings.database.mode!r}); use managed"
        )
    if settings.cache.mode in ("local", "external"):
        found.append(
            f"djangostack:cache.mode: the {kind} target uses managed Redis "
            f"(got {settings.cache.mode!r}); use managed or none"
        )
    return found


def secret_problems(settings: StackSettings) -> list[str]:
    """Secrets the settings call for that the stack does not set, one line each."""
    found: list[str] = []
    # Secrets the settings call for. On the server target SECRET_KEY and the local database
    # and Redis passwords are generated on the host when the stack does not set them, so they
    # never enter Pulumi state.
    needed: dict[str, str] = {}
    if settings.database.mode == "external":
        needed["databaseUrl"] = "database.mode is external"
    if settings.cache.mode == "external":
        needed["redisUrl"] = "cache.mode is external"
    if settings.observability.sentry:
        needed["sentryDsn"] = "observability.sentry is true"
    if isinstance(settings.target, ServerTarget) and settings.target.ssh_key_file is None:
        needed["sshPrivateKey"] = "the server target connects over SSH (or set target.sshKeyFile)"
    for key, why in needed.items():
        if key not in settings.secrets_present:
            found.append(
                f"djangostack:{key}: missing secret ({why}); set it with `pulumi config set --secret {key} <value>`"
            )
    return found


def problems(settings: StackSettings) -> list[str]:
    """Every guardrail shared by the targets, one line each."""
    found = extra_env_problems(settings)
    app = settings.app
    found += app_contract_problems(
        env_names=app.env_names,
        extra_env=app.extra_env,
        health_path=app.health_path,
        liveness_path=app.liveness_path,
        static_root=app.static_root,
        media_root=app.media_root,
        media_storage=settings.media.storage,
    )
    if settings.environment == "prod" and settings.web.hsts_seconds == 0:
        found.append(
            "djangostack:web.hstsSeconds: 0 turns HSTS off, which prod does not allow (got 0); "
            "use at least 300 while staging the rollout, 31536000 once it is stable"
        )
    database = settings.database
    if settings.environment == "prod" and database.mode == "external" and database.sslmode in ("disable", "prefer"):
        found.append(
            f"djangostack:database.sslmode: {database.sslmode!r} lets the connection to a prod external database "
            "run unencrypted; use require or verify-full"
        )
    for cidr in settings.network.admin_cidrs:
        network = ipaddress.ip_network(cidr)
        widest = 8 if network.version == 4 else 32
        if network.prefixlen < widest:
            found.append(
                f"djangostack:network.adminCidrs: {cidr} opens SSH to a large part of the internet; list the "
                "office or VPN ranges (IPv4 /8 or narrower, IPv6 /32 or narrower)"
            )
    return found


def warnings(settings: StackSettings) -> list[str]:
    """Allowed, but worth a line on every `check` and `pulumi up`."""
    found: list[str] = []
    target = settings.target
    if target.kind == "server" and getattr(target, "ssh_host_key", None) is None:
        found.append(
            f"djangostack:target.sshHostKey: unset, so SSH accepts any host key ({settings.environment} only; "
            "prod refuses this)"
        )
    for name in ("DJANGO_DEBUG", "DEBUG"):
        value = settings.app.extra_env.get(name, "")
        if value.lower() in _TRUE:
            found.append(f"djangostack:app.extraEnv.{name}: debug mode is on ({settings.environment} only)")
    database = settings.database
    if settings.environment == "prod" and database.mode == "external" and database.sslmode == "require":
        found.append(
            "djangostack:database.sslmode: 'require' encrypts but does not verify the server's certificate; "
            "prefer verify-full"
        )
    return found
