"""Golden files and properties of every host renderer.

Regenerate the golden files after an intended change with ``UPDATE_GOLDEN=1 pytest tests/host``
and review the diff.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from djangostack.host import render
from djangostack.host.context import HostContext
from djangostack.targets.hosts import host_context
from tests.host.conftest import CONTEXTS

GOLDEN = Path(__file__).parent / "golden"

RENDERERS: dict[str, Callable[[HostContext], str]] = {
    "nginx-site.conf": render.render_nginx_site,
    "gunicorn.socket": render.render_gunicorn_socket,
    "gunicorn.service": render.render_gunicorn_service,
    "gunicorn.conf.py": render.render_gunicorn_conf,
    "celery-worker.service": render.render_celery_worker_service,
    "celery-beat.service": render.render_celery_beat_service,
    "logrotate": render.render_logrotate,
    "app.env.base": lambda c: render.render_env_file(c, render.env_values(c)),
    "bootstrap.sh": render.render_bootstrap_script,
    "release.sh": render.render_release_script,
    "certbot-deploy-hook.sh": render.render_certbot,
    "cloud-init.yaml": lambda c: render.render_cloud_init(c, render.render_all(c)),
}

CASES = [(ctx, name) for ctx in sorted(CONTEXTS) for name in sorted(RENDERERS)]


@pytest.mark.parametrize(("ctx_name", "file_name"), CASES)
def test_rendered_file_matches_its_golden_file(ctx_name: str, file_name: str) -> None:
    text = RENDERERS[file_name](CONTEXTS[ctx_name]())
    golden = GOLDEN / ctx_name / file_name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}; run with UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8"), f"{golden} differs; UPDATE_GOLDEN=1 after review"


def test_rendering_twice_is_byte_identical(any_ctx: HostContext) -> None:
    first = {p: f.content for p, f in render.render_all(any_ctx).items()}
    second = {p: f.content for p, f in render.render_all(any_ctx).items()}
    assert first == second
    assert list(first) == sorted(first), "render_all keys are sorted"


def test_every_rendered_file_ends_with_one_newline(any_ctx: HostContext) -> None:
    for path, f in render.render_all(any_ctx).items():
        assert f.content.endswith("\n") and not f.content.endswith("\n\n"), path


# ---- Nginx ----------------------------------------------------------------------------------------


def _servers(site: str) -> list[str]:
    """Top-level server blocks of a rendered site (brace-matched)."""
    blocks, depth, start = [], 0, -1
    for m in re.finditer(r"^server \{|\{|\}", site, re.M):
        token = m.group(0)
        if token == "server {" and depth == 0:
            start, depth = m.start(), 1
        elif token.endswith("{"):
            depth += 1 if depth else 0
        elif depth:
            depth -= 1
            if depth == 0:
                blocks.append(site[start : m.end()])
    return blocks


def test_nginx_rejects_unknown_host_headers(any_ctx: HostContext) -> None:
    site = render.render_nginx_site(any_ctx)
    defaults = [s for s in _servers(site) if "default_server" in s]
    ports = {any_ctx.http_port, any_ctx.https_port} if any_ctx.nginx_terminates_tls else {any_ctx.http_port}
    for port in ports:
        matching = [s for s in defaults if f"listen {port} " in s]
        assert len(matching) == 1, f"one default server on port {port}"
        assert "return 444;" in matching[0] and "server_name _;" in matching[0]
    for server in _servers(site):
        if "default_server" not in server:
            names = re.search(r"server_name ([^;]+);", server)
            assert names and "_" not in names.group(1).split(), "real servers list exact names"


def test_nginx_http_server_redirects_to_https_keeping_a_custom_port(dev: HostContext) -> None:
    site = render.render_nginx_site(dev)
    assert "return 301 https://$host:8443$request_uri;" in site
    assert "location ^~ /.well-known/acme-challenge/ {\n        root /var/www/certbot;" in site


def test_nginx_redirect_omits_the_default_https_port(letsencrypt: HostContext) -> None:
    assert "return 301 https://$host$request_uri;" in render.render_nginx_site(letsencrypt)


def test_nginx_https_server_uses_modern_tls_only(any_ctx: HostContext) -> None:
    site = render.render_nginx_site(any_ctx)
    if not any_ctx.nginx_terminates_tls:
        assert "ssl_certificate" not in site
        return
    assert f"listen {any_ctx.https_port} ssl http2;" in site
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in site
    assert "ssl_session_tickets off;" in site
    assert not re.search(r"TLSv1(\.1)?[ ;]", site)


def test_upload_limit_is_set_in_the_site_server_and_never_zero(any_ctx: HostContext) -> None:
    site = render.render_nginx_site(any_ctx)
    site_server = next(s for s in _servers(site) if "proxy_pass" in s and "default_server" not in s)
    assert f"client_max_body_size {any_ctx.max_upload_mb}m;" in site_server
    assert "client_max_body_size 0" not in site


def test_proxy_read_timeout_is_not_below_gunicorn_timeout(any_ctx: HostContext) -> None:
    site = render.render_nginx_site(any_ctx)
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        values = [int(v) for v in re.findall(rf"{directive} (\d+)s;", site)]
        assert values, directive
        # Behind a load balancer the default server's two probe locations (liveness, readiness)
        # answer within 10s; every proxied app location waits longer than Gunicorn.
        site_values = values if any_ctx.nginx_terminates_tls else values[2:]
        assert all(v > any_ctx.timeout_seconds for v in site_values), (directive, values)
    assert "proxy_connect_timeout 5s;" in site


def test_proxy_forwards_host_scheme_and_client_address(any_ctx: HostContext) -> None:
    site = render.render_nginx_site(any_ctx)
    host = f"$host{any_ctx.public_origin_port_suffix}"
    for header in (
        f"proxy_set_header Host {host};",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        f"proxy_set_header X-Forwarded-Host {host};",
        f"proxy_set_header X-Forwarded-Port {any_ctx.https_port};",
        "proxy_http_version 1.1;",
        "proxy_redirect off;",
    ):
        assert header in site, header
    proto = "$scheme" if any_ctx.nginx_terminates_tls else "$http_x_forwarded_proto"
    assert f"proxy_set_header X-Forwarded-Proto {proto};" in site


def test_hsts_is_sent_by_nginx_only(any_ctx: HostContext) -> None:
    site = render.render_nginx_site(any_ctx)
    assert f'add_header Strict-Transport-Security "max-age={any_ctx.hsts_seconds}" always;' in site
    assert site.count("proxy_pass http://") == site.count("proxy_hide_header Strict-Transport-Security;")


def test_every_location_with_its_own_headers_repeats_the_security_headers(any_ctx: HostContext) -> None:
    site = render.render_nginx_site(any_ctx)
    for block in re.findall(r"location /(?:static|media)/ \{.*?\n    \}", site, re.S):
        for header in ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Strict-Transport"):
            assert header in block, (header, block)


def test_static_alias_has_a_trailing_slash_and_long_caching(any_ctx: HostContext) -> None:
    site = render.render_nginx_site(any_ctx)
    assert f"location /static/ {{\n        alias {any_ctx.static_dir}/;" in site
    assert f"expires {any_ctx.static_cache_days}d;" in site
    assert 'add_header Cache-Control "public" always;' in site


def test_media_is_served_only_when_local(any_ctx: HostContext) -> None:
    site = render.render_nginx_site(any_ctx)
    if any_ctx.media_storage == "local":
        assert f"alias {any_ctx.media_dir}/;" in site
        assert "sandbox" in site
    else:
        assert "location /media/" not in site


def test_dotfiles_are_denied_except_well_known(any_ctx: HostContext) -> None:
    assert "location ~ /\\.(?!well-known) {\n        deny all;" in render.render_nginx_site(any_ctx)


def test_readiness_endpoint_is_restricted_to_private_addresses(any_ctx: HostContext) -> None:
    site = render.render_nginx_site(any_ctx)
    blocks = re.findall(rf"location = {re.escape(any_ctx.health_path)} \{{.*?\n    \}}", site, re.S)
    assert blocks
    for block in blocks:
        assert "allow 127.0.0.0/8;" in block and "allow 10.0.0.0/8;" in block
        assert block.index("deny all;") > block.index("allow fc00::/7;")
        assert "0.0.0.0/0" not in block


def test_nginx_never_listens_on_gunicorn_tcp_ports(any_ctx: HostContext) -> None:
    site = render.render_nginx_site(any_ctx)
    assert "8000" not in site
    assert f"server unix:{any_ctx.socket_path} fail_timeout=0;" in site


# ---- Gunicorn -------------------------------------------------------------------------------------


def test_gunicorn_socket_is_not_world_writable(any_ctx: HostContext) -> None:
    unit = render.render_gunicorn_socket(any_ctx)
    assert "SocketMode=0660" in unit
    assert f"SocketGroup={any_ctx.web_group}" in unit
    assert f"ListenStream=/run/{any_ctx.runtime_dir_name}/%i.sock" in unit
    mode = re.search(r"^SocketMode=(\d+)$", unit, re.M)
    assert mode and int(mode.group(1), 8) & 0o007 == 0, "others get no access to the socket"


def test_gunicorn_service_runs_unprivileged_from_its_color_with_its_socket(any_ctx: HostContext) -> None:
    unit = render.render_gunicorn_service(any_ctx)
    colors = any_ctx.colors_dir
    for line in (
        f"Requires={any_ctx.gunicorn_unit}@%i.socket",
        f"User={any_ctx.user}",
        f"Group={any_ctx.web_group}",
        f"WorkingDirectory={colors}/%i",
        f"RuntimeDirectory={any_ctx.runtime_dir_name}",
        "RuntimeDirectoryPreserve=yes",
        "UMask=0007",
        f"ExecStart={colors}/%i/.venv/bin/gunicorn --config {any_ctx.gunicorn_conf} "
        f"--bind unix:/run/{any_ctx.runtime_dir_name}/%i.sock {any_ctx.wsgi_app}",
        "ExecReload=/bin/kill -s HUP $MAINPID",
        "RestartSec=5",
        f"TimeoutStopSec={any_ctx.graceful_timeout_seconds + 15}",
        "KillMode=mixed",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
    ):
        assert line in unit.splitlines(), line
    assert "User=root" not in unit
    # gunicorn.conf.py reads the environment, so a HUP applies a new one (no EnvironmentFile=).
    assert not [line for line in unit.splitlines() if line.startswith("EnvironmentFile")]


def test_gunicorn_starts_in_its_color_and_the_conf_pins_no_release_directory_nor_socket(
    any_ctx: HostContext,
) -> None:
    conf = render.render_gunicorn_conf(any_ctx)
    compile(conf, "gunicorn.conf.py", "exec")
    assert not [line for line in conf.splitlines() if line.startswith(("chdir", "bind"))]
    assert f"WorkingDirectory={any_ctx.colors_dir}/%i" in render.render_gunicorn_service(any_ctx)
    assert "preload_app = False" in conf


def test_gunicorn_workers_default_to_twice_the_cpus_plus_one(
    letsencrypt: HostContext, dev: HostContext, tmp_path: Path
) -> None:
    assert "workers = multiprocessing.cpu_count() * 2 + 1" in render.render_gunicorn_conf(letsencrypt)
    assert "workers = 2\n" in render.render_gunicorn_conf(dev)
    namespace: dict[str, object] = {}
    (tmp_path / "app.env").write_text("A='1'\n")
    exec(render.render_gunicorn_conf(letsencrypt).replace(letsencrypt.env_file, str(tmp_path / "app.env")), namespace)
    assert isinstance(namespace["workers"], int) and namespace["workers"] >= 3
    assert namespace["timeout"] == 60 and namespace["threads"] == 4


# ---- Celery, logrotate ----------------------------------------------------------------------------


def test_celery_units_are_only_installed_when_enabled(any_ctx: HostContext) -> None:
    paths = render.render_all(any_ctx)
    worker = f"/etc/systemd/system/{any_ctx.celery_worker_unit}.service"
    beat = f"/etc/systemd/system/{any_ctx.celery_beat_unit}.service"
    assert (worker in paths) == any_ctx.celery_worker
    assert (beat in paths) == any_ctx.celery_beat


def test_celery_worker_consumes_every_queue_and_stops_gracefully(alb: HostContext) -> None:
    unit = render.render_celery_worker_service(alb)
    assert "--queues default,emails" in unit
    assert "TimeoutStopSec=600" in unit and "KillMode=control-group" in unit
    assert "After=network-online.target" in unit and "Wants=network-online.target" in unit


def test_celery_units_wait_for_local_services(dev: HostContext) -> None:
    unit = render.render_celery_worker_service(dev)
    assert "After=postgresql.service" in unit and "After=redis-server@notes.service" in unit
    for rendered in (unit, render.render_gunicorn_service(dev), render.render_celery_beat_service(dev)):
        # The app's own Redis instance, never the host's default redis-server (which stays as it is).
        assert "Wants=redis-server@notes.service" in rendered
        assert "redis-server.service" not in rendered


def test_celery_beat_keeps_its_schedule_in_a_writable_state_directory(dev: HostContext) -> None:
    unit = render.render_celery_beat_service(dev)
    assert f"--schedule {dev.state_dir}/celerybeat-schedule" in unit
    assert f"StateDirectory={dev.app_name}" in unit


def test_logrotate_never_copytruncates_and_reopens_with_usr1(any_ctx: HostContext) -> None:
    conf = render.render_logrotate(any_ctx)
    assert "copytruncate" not in conf.replace("No copytruncate", "")
    for directive in (
        "daily",
        f"rotate {any_ctx.log_retention_days}",
        "compress",
        "delaycompress",
        "missingok",
        "notifempty",
        "dateext",
        "sharedscripts",
        f"create 0640 {any_ctx.user} {any_ctx.group}",
    ):
        assert f"    {directive}\n" in conf, directive
    assert "--signal=USR1 --kill-who=main" in conf


# ---- Environment file -----------------------------------------------------------------------------


def test_env_file_follows_the_app_contract(any_ctx: HostContext) -> None:
    values = render.env_values(any_ctx)
    for key in (
        "DJANGO_SETTINGS_MODULE",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "MEDIA_STORAGE",
        "STATIC_ROOT",
        "MEDIA_ROOT",
        "SECURE_HSTS_SECONDS",
        "DATA_UPLOAD_MAX_MEMORY_SIZE",
    ):
        assert key in values, key
    assert values["DJANGO_DEBUG"] == "false"
    assert "*" not in values["ALLOWED_HOSTS"]
    assert all(o.startswith("https://") for o in values["CSRF_TRUSTED_ORIGINS"].split(","))
    assert not {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SENTRY_DSN"} & set(values)


def test_csrf_origins_carry_a_non_default_https_port(dev: HostContext) -> None:
    assert render.env_values(dev)["CSRF_TRUSTED_ORIGINS"] == "https://127.0.0.1:8443"


def test_env_file_refuses_values_that_cannot_round_trip(dev: HostContext) -> None:
    for bad in ("it's", "two\nlines", " padded"):
        with pytest.raises(ValueError, match="environment value of X"):
            render.render_env_file(dev, {"X": bad})
    with pytest.raises(ValueError, match="not a valid shell variable name"):
        render.render_env_file(dev, {"1BAD": "x"})


# ---- Scripts and the whole set --------------------------------------------------------------------


def test_no_chmod_777_or_chown_www_data_anywhere(any_ctx: HostContext) -> None:
    for path, f in render.render_all(any_ctx).items():
        text = f.content
        assert not re.search(r"chmod\s+(-R\s+)?0?7[0-7]7\b", text), path
        assert not re.search(r"chmod\s+-R", text), path
        assert not re.search(r"chown\s+(-R\s+)?www-data", text), path
        assert "ufw allow 8000" not in text, path


def test_no_secret_is_rendered_into_any_file(letsencrypt: HostContext) -> None:
    files = render.render_all(letsencrypt)
    for path, f in files.items():
        assert not re.search(r"(SECRET_KEY|PASSWORD|DATABASE_URL)='[^$]", f.content), path
    user_data = render.render_cloud_init(letsencrypt, files)
    assert not re.search(r"requirepass [0-9a-f]{16}", user_data)
    assert not re.search(r"postgres://\w+:[0-9a-f]{16}", user_data)


def test_bootstrap_is_strict_and_installs_every_file_by_checksum(any_ctx: HostContext) -> None:
    files = render.render_all(any_ctx)
    script = files[any_ctx.bootstrap_path].content
    assert script.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script
    for path, f in files.items():
        if path != any_ctx.bootstrap_path:
            assert f"install_file {path} {f.owner} {f.group} {f.mode_text} {f.sha256} " in script, path


def test_bootstrap_changes_whenever_any_file_changes(dev: HostContext) -> None:
    import dataclasses

    other = dataclasses.replace(dev, max_upload_mb=dev.max_upload_mb + 1)
    assert render.render_bootstrap_script(other) != render.render_bootstrap_script(dev)


def test_bootstrap_only_opens_the_firewall_for_ssh_and_web(letsencrypt: HostContext, dev: HostContext) -> None:
    script = render.render_bootstrap_script(letsencrypt)
    allows = re.findall(r"^ufw allow (\S+)", script, re.M)
    assert allows == ["22/tcp", "80/tcp", "443/tcp"]
    assert "ufw" not in render.render_bootstrap_script(dev).replace("ufw+fail2ban", "")


def test_bootstrap_requires_external_urls_and_generates_local_passwords(
    letsencrypt: HostContext, dev: HostContext
) -> None:
    external = render.render_bootstrap_script(letsencrypt)
    assert 'secret DATABASE_URL ""' in external and 'secret SENTRY_DSN ""' in external
    local = render.render_bootstrap_script(dev)
    assert "secret DB_PASSWORD gen_password" in local and "secret REDIS_PASSWORD gen_password" in local
    assert "secret SECRET_KEY gen_key" in local


def test_letsencrypt_is_requested_only_in_letsencrypt_mode(letsencrypt: HostContext, dev: HostContext) -> None:
    script = render.render_certbot_issue(letsencrypt)
    assert "certbot certonly --webroot -w /var/www/certbot --cert-name shop" in script
    assert "-d shop.example.com -d www.shop.example.com" in script
    bootstrap = render.render_bootstrap_script(letsencrypt)
    assert f"if {letsencrypt.certbot_issue}; then" in bootstrap
    assert 'CERTBOT_SKIP:-}" == 1' in bootstrap
    assert "certbot-issue" not in render.render_bootstrap_script(dev)
    assert not any("certbot" in path for path in render.render_all(dev))


def test_release_script_locks_switches_atomically_and_gates_on_health(any_ctx: HostContext) -> None:
    script = render.render_release_script(any_ctx)
    assert "flock -n 9" in script
    assert 'ln -sfn "releases/$1" "$BASE/current.tmp" && mv -T "$BASE/current.tmp" "$CURRENT"' in script
    assert '--unix-socket "$sock"' in script and '-H "X-Forwarded-Proto: https"' in script
    assert f"HEALTH_URL=http://localhost{any_ctx.health_path}" in script
    assert "check --deploy --fail-level WARNING" in script
    assert '"$dump" --format=custom' in script and '/pg_restore" --list' in script and "test -s" in script
    assert f"KEEP={any_ctx.releases_to_keep}" in script
    deploy = script[script.index("deploy() {") :]
    assert deploy.index("migrating") < deploy.index('start_idle "$id"') < deploy.index('go_live "$id"')
    assert deploy.index("collecting static files") < deploy.index('go_live "$id"')
    # The new release is health-checked on its own color's socket before Nginx is switched to it.
    assert 'health_gate "$(color_socket "$NEW_COLOR")" "$GUNICORN@$NEW_COLOR.service"' in script
    assert 'ln -sfn "$(color_socket "$1")" "$SOCKET.tmp" && mv -T "$SOCKET.tmp" "$SOCKET"' in script
    assert deploy.index('go_live "$id"') < deploy.index("drain_old")


def test_release_restarts_workers_before_beat(dev: HostContext) -> None:
    script = render.render_release_script(dev)
    assert "WORKER_UNITS=(celery-notes.service)" in script
    assert "BEAT_UNITS=(celerybeat-notes.service)" in script
    assert 'for unit in "${WORKER_UNITS[@]}" "${BEAT_UNITS[@]}"; do' in script


def test_cloud_init_is_sorted_yaml_that_runs_bootstrap_once(any_ctx: HostContext) -> None:
    files = render.render_all(any_ctx)
    text = render.render_cloud_init(any_ctx, files)
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    assert list(doc) == sorted(doc)
    assert doc["runcmd"] == [["bash", any_ctx.bootstrap_path]]
    assert len(doc["write_files"]) == len(files)
    assert {"name": any_ctx.user, "system": True}.items() <= doc["users"][1].items()
    assert doc["users"][0] == "default"
    assert all(w["permissions"] in ("0600", "0700") for w in doc["write_files"])


def test_aws_host_has_no_host_firewall_and_trusts_only_the_vpc(alb: HostContext) -> None:
    assert not alb.firewall and alb.tls_mode == "load-balancer"
    site = render.render_nginx_site(alb)
    assert "set_real_ip_from 10.20.0.0/16;" in site
    assert 'if ($http_x_forwarded_proto = "http")' in site
    assert render.env_values(alb)["MEDIA_BUCKET"] == "api-staging-media"


def test_letsencrypt_needs_dns_names() -> None:
    from djangostack.validation import validate

    raw = {
        "environment": "dev",
        "target": {"kind": "server", "host": "203.0.113.5", "sshKeyFile": "k"},
        "app": {"name": "x-app", "releaseId": "1"},
        "database": {"mode": "local"},
        "cache": {"mode": "local"},
    }
    settings = validate(raw, set(), set())
    ctx = host_context(settings)
    assert ctx.tls_mode == "self-signed" and ctx.server_names == ("203.0.113.5",)


def test_restarting_gunicorn_never_restarts_its_socket(any_ctx: HostContext) -> None:
    # PartOf= would tie the socket to the service: a release's restart would close the listening
    # socket and reset the requests waiting in its backlog (seen as 502s on the real host).
    unit = render.render_gunicorn_socket(any_ctx)
    assert not [line for line in unit.splitlines() if line.startswith(("PartOf=", "BindsTo="))]


def test_every_check_that_cannot_touch_the_database_runs_before_migrate(any_ctx: HostContext) -> None:
    """Issue 11 item 6: a failing collectstatic or check-config must not leave the schema migrated."""
    script = render.render_release_script(any_ctx)
    body = script[script.index("deploy() {") :]
    order = [
        'run "building the virtualenv',
        'run "manage.py check --deploy',
        'run "collecting static files"',
        'run "gunicorn --check-config"',
        'run "backing up the database"',
        'run "migrating"',
        'start_idle "$id"',
        'go_live "$id"',
    ]
    positions = [body.index(step) for step in order]
    assert positions == sorted(positions), dict(zip(order, positions, strict=True))


def test_root_never_sources_what_the_app_user_can_write(any_ctx: HostContext) -> None:
    """Issue 11 item 4: the env file is root-owned (0640, the app's group reads it), the release
    script reads it as data, and pip and manage.py run as the app user with a clean environment."""
    release = render.render_release_script(any_ctx)
    assert '. "$ENV_FILE"' not in release and '. "$dir/.release.env"' not in release
    assert 'exec env -i PATH="$CLEAN_PATH"' in release
    assert 'setpriv --reuid="$APP_USER"' in release
    # uv builds as the app user: every uv that installs runs through as_app (root runs only
    # `uv --version` and `uv python find`, which read root-owned files).
    assert 'as_app "$dir" 0 env "${UV_ENV[@]}"' in release
    assert 'uv_as_app "$dir" venv --allow-existing' in release and "python3 -m venv" not in release
    logical = release.replace("\\\n", " ").splitlines()
    root_uv = [line.strip() for line in logical if '"$UV"' in line and "as_app" not in line]
    assert all('"$UV" --version' in line or '"$UV" python find' in line for line in root_uv), root_uv
    assert "/usr/bin/python3 -I" in release and '"$1/.venv/bin/python" -' not in release
    bootstrap = render.render_bootstrap_script(any_ctx)
    assert 'chown "root:$APP_GROUP" "$env_new"' in bootstrap and 'chmod 0640 "$env_new"' in bootstrap
    assert 'chown "$APP_USER' not in bootstrap


def test_the_archive_is_hashed_in_a_root_only_unpredictable_place(any_ctx: HostContext) -> None:
    """Issue 11 item 4: copied into mktemp -d under a root-only directory, sha256 checked on that
    copy, then unpacked; nothing is unpacked by the SSH user under /var/tmp."""
    from djangostack.host.django_host import release_command

    sha = "0" * 64
    command = release_command(any_ctx, "r1", "/var/tmp/x-artifacts/source.tar.gz", sha)
    assert command == f"sudo -n {any_ctx.release_script} deploy r1 /var/tmp/x-artifacts/source.tar.gz {sha}"
    script = render.render_release_script(any_ctx)
    unpack = script[script.index("unpack_archive() {") :]
    steps = ['install -d -o root -g root -m 0700 "$INCOMING"', 'mktemp -d "$INCOMING/', "sha256sum --check", "tar -xzf"]
    positions = [unpack.index(s) for s in steps]
    assert positions == sorted(positions)
    incoming = [d for d in render.host_directories(any_ctx) if d.path == any_ctx.incoming_dir]
    assert [(d.owner, d.group, d.mode) for d in incoming] == [("root", "root", "0700")]


def test_the_live_release_id_again_is_a_health_check_not_an_error(any_ctx: HostContext) -> None:
    """Issue 11 item 6: exit 2 for a live release id blocked every later `pulumi up`."""
    script = render.render_release_script(any_ctx)
    assert "refusing to overwrite it" not in script
    assert 'if [[ "$(live_release)" == "$id" ]]; then\n        already_live "$id" "$sha"' in script
    assert 'log "release $id is already live and healthy: nothing to do"\n        exit 0' in script


def test_a_failed_certificate_issuance_does_not_fail_the_bootstrap(letsencrypt: HostContext) -> None:
    """Issue 12 AWS 2: no DNS yet on a new instance; certbot fails; the bootstrap must not exit 4."""
    bootstrap = render.render_bootstrap_script(letsencrypt)
    tail = bootstrap[bootstrap.index("# ---- Let's Encrypt") :]
    assert "exit 4" not in tail and "exit 1" not in tail
    assert "systemctl enable --now --quiet certbot-retry-shop.timer" in tail
    assert "WARNING: certificate issuance failed" in tail
    files = render.render_all(letsencrypt)
    assert "OnUnitInactiveSec=20min" in files["/etc/systemd/system/certbot-retry-shop.timer"].content
    assert (
        files["/etc/systemd/system/certbot-retry-shop.service"].content.count(
            "ExecStart=/usr/local/lib/shop/certbot-issue"
        )
        == 1
    )


def test_pg_dump_must_match_the_server_major_version(any_ctx: HostContext) -> None:
    """Issue 12 AWS 7: pg_dump 16 refuses a 17 server; pick a client >= the server's major or
    fail (host database) / skip with a warning (managed database) with one clear line."""
    script = render.render_release_script(any_ctx)
    assert "SHOW server_version_num" in script and 'pick_pg_dump "$major"' in script
    expected = "skip" if any_ctx.target_kind == "aws-ec2" else "fail"
    assert f"PG_DUMP_MISMATCH={expected}\n" in script
