# Gunicorn settings for shop. Rendered by components.host; do not edit on the host.
# Checked before every release with `gunicorn --check-config`.
import multiprocessing

wsgi_app = "project.wsgi:application"

# No chdir here: the unit's WorkingDirectory resolves `current` when Gunicorn starts, and every
# release restarts Gunicorn (the new release's venv and code), so no stale directory is kept.
# `gunicorn --check-config` runs before the switch, when `current` may not exist yet.
preload_app = False

# systemd passes the listening socket (gunicorn-shop.socket); the bind only matters
# when Gunicorn is started by hand, and names the same path.
bind = ["unix:/run/gunicorn-shop/gunicorn.sock"]
backlog = 2048
umask = 0o007

# Not set in the stack: the usual starting point for sync workers, sized by the host's CPUs.
workers = multiprocessing.cpu_count() * 2 + 1
worker_class = "gthread"
threads = 4
timeout = 60
graceful_timeout = 30
keepalive = 2
# Recycle workers to bound slow memory growth; jitter avoids all restarting at once.
max_requests = 1000
max_requests_jitter = 100

# Only Nginx can reach the socket (mode 0660, group www-data), so its X-Forwarded-* headers
# are trusted; Django still decides HTTPS through SECURE_PROXY_SSL_HEADER.
forwarded_allow_ips = "*"

proc_name = "gunicorn-shop"
loglevel = "info"
# Errors to stderr (the journal); the access log to a file rotated by logrotate (USR1 reopens it).
errorlog = "-"
accesslog = "/srv/shop/shared/logs/gunicorn-access.log"
capture_output = True
