"""The one app-environment builder: names, mapping (app.envNames), secrets kept apart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from djangostack.contract.app_env import (
    CONTRACT_NAMES,
    SECRET_NAMES,
    AppEnvInputs,
    build_app_env,
    csrf_origins_value,
    env_name_problems,
)
from djangostack.host import render
from djangostack.targets.hosts import host_context
from tests.host.conftest import SERVER_TARGET, letsencrypt_context


def inputs(**changes: object) -> AppEnvInputs[str]:
    base = AppEnvInputs[str](
        settings_module="project.settings",
        environment="prod",
        allowed_hosts="shop.example.com",
        csrf_trusted_origins=csrf_origins_value(["shop.example.com"]),
        log_level="INFO",
        traces_sample_rate=0.25,
        hsts_seconds=31536000,
        x_frame_options="DENY",
        max_upload_mb=10,
        db_conn_max_age_seconds=60,
        media_storage="local",
        secrets=("SECRET_KEY", "DATABASE_URL"),
        media_root="/srv/shop/shared/media",
        static_root="/srv/shop/current/static",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_every_plain_name_is_a_contract_name_and_no_secret_is_plain() -> None:
    env = build_app_env(inputs(release_id="r1", aws_region="eu-west-1", media_bucket="b", celery_default_queue="q"))
    assert set(env.plain) <= CONTRACT_NAMES
    assert not set(env.plain) & set(SECRET_NAMES)
    assert env.secrets == {"SECRET_KEY": "SECRET_KEY", "DATABASE_URL": "DATABASE_URL"}
    assert env.plain["SENTRY_TRACES_SAMPLE_RATE"] == "0.25"


def test_env_names_move_plain_values_and_secrets_to_the_apps_names() -> None:
    env = build_app_env(inputs(env_names={"SECRET_KEY": "DJANGO_SECRET_KEY", "STATIC_ROOT": "DJANGO_STATIC_ROOT"}))
    assert env.secrets["SECRET_KEY"] == "DJANGO_SECRET_KEY"
    assert env.plain["DJANGO_STATIC_ROOT"] == "/srv/shop/current/static"
    assert "STATIC_ROOT" not in env.plain
    assert "DJANGO_SECRET_KEY" not in env.plain
    assert "DJANGO_SECRET_KEY" in env.names()


@pytest.mark.parametrize(
    ("names", "fragment"),
    [
        ({"NOT_OURS": "X"}, "app.envNames.NOT_OURS: not a name the stack sets"),
        ({"SECRET_KEY": "1BAD"}, "app.envNames.SECRET_KEY: '1BAD' is not an environment variable name"),
        ({"SECRET_KEY": "K", "DATABASE_URL": "K"}, "is already the name of"),
        ({"SECRET_KEY": "LOG_LEVEL"}, "LOG_LEVEL is already set by the stack as LOG_LEVEL"),
        ({"PYTHONUNBUFFERED": "X"}, "read by Python itself"),
    ],
)
def test_bad_env_names_are_refused_with_the_full_key(names: dict[str, str], fragment: str) -> None:
    problems = env_name_problems(names)
    assert problems and fragment in problems[0], problems
    with pytest.raises(ValueError, match=r"djangostack:app\.envNames"):
        build_app_env(inputs(env_names=names))


def test_a_secret_never_goes_plaintext_under_its_mapped_name() -> None:
    with pytest.raises(ValueError, match="DJANGO_SECRET_KEY"):
        build_app_env(inputs(env_names={"SECRET_KEY": "DJANGO_SECRET_KEY"}, extra_env={"DJANGO_SECRET_KEY": "x"}))
    with pytest.raises(ValueError, match="SECRET_KEY"):
        build_app_env(inputs(extra_env={"SECRET_KEY": "x"}))


def test_csrf_origins_carry_a_non_default_port() -> None:
    assert csrf_origins_value(["a.example", "b.example"], 8443) == "https://a.example:8443,https://b.example:8443"
    assert csrf_origins_value(["a.example"], 443) == "https://a.example"


def test_hosts_get_the_traces_sample_rate() -> None:
    """It used to reach Cloud Run only (the two builders had drifted)."""
    ctx = replace(letsencrypt_context(), traces_sample_rate=0.5)
    assert render.env_values(ctx)["SENTRY_TRACES_SAMPLE_RATE"] == "0.5"


def test_hosts_write_secrets_under_the_apps_names() -> None:
    ctx = replace(letsencrypt_context(), env_names=(("DATABASE_URL", "DB_URL"), ("SECRET_KEY", "DJANGO_SECRET_KEY")))
    bootstrap = render.render_bootstrap_script(ctx)
    assert 'env_line DJANGO_SECRET_KEY "$secret_key"' in bootstrap
    assert 'env_line DB_URL "$database_url"' in bootstrap
    assert "env_line SECRET_KEY" not in bootstrap
    release = render.render_release_script(ctx)
    assert 'env_value "$ENV_FILE" DB_URL' in release
    base = render.render_env_file(ctx, render.env_values(ctx))
    assert "SECRET" not in base and "DB_URL" not in base


def test_the_host_layer_takes_the_targets_edge_and_knows_no_cloud() -> None:
    """A target hands the host layer a small edge description; nothing in it names a cloud type."""
    import ast
    import inspect

    from djangostack.host.context import HostContext, HostEdge
    from djangostack.targets.server.edge import server_edge

    settings = _server_settings()
    edge = HostEdge(
        kind="server",
        tls_mode="load-balancer",
        trusted_proxy_cidrs=("10.1.0.0/16",),
        public_hosts=("lb.example.com",),
        database_snapshots=True,
        beat_exec_prefix="/usr/local/lib/shop/beat-leader",
    )
    ctx = HostContext.from_settings(settings, edge)
    assert ctx.tls_mode == "load-balancer" and not ctx.nginx_terminates_tls
    assert ctx.trusted_proxy_cidrs == ("10.1.0.0/16",)
    assert "lb.example.com" in ctx.server_names
    site = render.render_nginx_site(ctx)
    assert "set_real_ip_from 10.1.0.0/16;" in site
    assert "PG_DUMP_MISMATCH=skip" in render.render_release_script(ctx)
    settings_beat = settings.model_copy(update={"celery": settings.celery.model_copy(update={"beat": True})})
    beat = render.render_celery_beat_service(HostContext.from_settings(settings_beat, edge))
    assert "ExecStart=/usr/local/lib/shop/beat-leader /srv/shop/current/.venv/bin/celery" in beat
    # from_settings itself no longer branches on a target's type.
    source = inspect.getsource(HostContext.from_settings)
    assert "AwsEc2Target" not in source and "isinstance" not in source
    assert server_edge(settings).kind == "server"
    # The host package imports no target and no target's settings: each target builds its edge.
    host_dir = Path(inspect.getfile(HostContext)).parent
    for module in sorted(host_dir.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert [m for m in imported if "targets" in m.split(".")] == [], module.name


def _server_settings():  # type: ignore[no-untyped-def]
    from djangostack.validation import validate

    return validate(_server_settings_raw(), set(), set())


def _contract(**changes: object) -> list[str]:
    from djangostack.contract.app_env import app_contract_problems

    args: dict[str, object] = {
        "env_names": {},
        "extra_env": {},
        "health_path": "/readyz",
        "liveness_path": "/healthz",
    }
    args.update(changes)
    return app_contract_problems(**args)  # type: ignore[arg-type]


def test_a_health_path_on_the_home_page_is_refused() -> None:
    (line,) = _contract(health_path="/")
    assert line.startswith("djangostack:app.healthPath: '/' is the site's home page")
    (line,) = _contract(liveness_path="/")
    assert line.startswith("djangostack:app.livenessPath: '/'")
    assert _contract() == []


def test_static_and_media_folders_are_checked_together() -> None:
    (line,) = _contract(static_root="static", media_root="static")
    assert "uploads need their own folder" in line
    (line,) = _contract(media_root="media", media_storage="s3")
    assert line.startswith("djangostack:app.mediaRoot: media live in a bucket")
    assert _contract(static_root="staticfiles", media_root="media") == []


def test_extra_env_may_not_take_a_mapped_secrets_name() -> None:
    (line,) = _contract(env_names={"SECRET_KEY": "DJANGO_SECRET_KEY"}, extra_env={"DJANGO_SECRET_KEY": "x"})
    assert line.startswith("djangostack:app.extraEnv.DJANGO_SECRET_KEY: the stack sets DJANGO_SECRET_KEY itself")


def test_the_app_contract_settings_reach_the_host() -> None:
    from djangostack.settings.errors import SettingsError
    from djangostack.validation import validate

    raw = _server_settings_raw()
    raw["app"] |= {
        "envNames": {"SECRET_KEY": "DJANGO_SECRET_KEY"},
        "staticRoot": "staticfiles",
        "mediaRoot": "media",
        "deployCheck": {"failLevel": "ERROR", "silence": ["security.W005"]},
    }
    ctx = host_context(validate(raw, set(), set()))
    assert ctx.static_dir == "/srv/shop/current/staticfiles" and ctx.media_subdir == "media"
    assert "env_line DJANGO_SECRET_KEY" in render.render_bootstrap_script(ctx)
    assert "fail level ERROR; silenced: security.W005" in render.render_release_script(ctx)
    raw["app"] |= {"healthPath": "/"}
    with pytest.raises(SettingsError, match=r"djangostack:app\.healthPath: '/' is the site's home page"):
        validate(raw, set(), set())
    raw["app"] |= {"healthPath": "/readyz", "deployCheck": {"failLevel": "LOUD"}}
    with pytest.raises(SettingsError, match="deployCheck"):
        validate(raw, set(), set())


def _server_settings_raw() -> dict:  # type: ignore[type-arg]
    return {
        "environment": "prod",
        "target": dict(SERVER_TARGET),
        "app": {"name": "shop", "releaseId": "v1"},
        "database": {"mode": "local"},
        "cache": {"mode": "local"},
        "domain": {"names": ["shop.example.com"], "tls": {"mode": "self-signed"}},
    }
