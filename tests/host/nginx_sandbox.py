"""An nginx prefix directory in which ``nginx -t`` checks a rendered site without root."""

from __future__ import annotations

from pathlib import Path

from djangostack.host.context import HostContext


def nginx_sandbox(site: str, directory: Path, ctx: HostContext, cert: Path, key: Path, *, serve: bool = False) -> Path:
    """Write ``site`` (host paths swapped for ``directory``'s) and an nginx.conf including it; the
    config's path, for ``nginx -t -p directory -c <path>``. ``serve``: also runnable in the
    foreground as root (``nginx -p directory -c <path>``), with every temp path inside ``directory``."""
    (directory / "logs").mkdir(exist_ok=True)
    for real, fake in (
        (ctx.cert_file, cert),
        (ctx.key_file, key),
        (ctx.reject_cert_file, cert),
        (ctx.reject_key_file, key),
        ("/var/log/nginx/", f"{directory}/logs/"),
    ):
        site = site.replace(str(real), str(fake))
    (directory / "site.conf").write_text(site)
    config = directory / "nginx.conf"
    main = f"pid {directory}/nginx.pid;\nerror_log {directory}/logs/error.log;\n"
    temp = ""
    if serve:
        main = f"user root;\n{main}daemon off;\n"
        temp = "".join(
            f"    {kind}_temp_path {directory}/{sub};\n"
            for kind, sub in (
                ("client_body", "body"),
                ("proxy", "proxy"),
                ("fastcgi", "fcgi"),
                ("uwsgi", "uwsgi"),
                ("scgi", "scgi"),
            )
        )
    config.write_text(
        f"{main}events {{}}\nhttp {{\n    include /etc/nginx/mime.types;\n"
        f"    access_log {directory}/logs/access.log;\n{temp}    include {directory}/site.conf;\n}}\n"
    )
    return config
