# Gunicorn settings for shop. Rendered by components.host; do not edit on the host.
# Checked before every release with `gunicorn --check-config`.
import multiprocessing
import os
import re

wsgi_app = "project.wsgi:application"

# The app's environment is read here, not by systemd (no EnvironmentFile= on the unit). Releases
# and the bootstrap apply a changed environment by starting the idle color next to the live one
# (it reads this file afresh) and switching once it is healthy; a HUP also re-reads it (the master
# drops the variables of the previous read and starts new workers with the new values).
_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)='([^']*)'")


def _env_file(path, required):
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        if required:
            raise
        return []
    pairs = []
    for number, line in enumerate(lines, 1):
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"{path}:{number}: expected NAME='value'")
        pairs.append(f"{match[1]}={match[2]}")
    return pairs


# The app's env file, then the release's RELEASE_ID (.release.env in the working directory: the
# release Gunicorn was started in, or the one `--check-config --chdir` names).
raw_env = _env_file("/etc/shop/app.env", True) + _env_file(os.path.join(os.getcwd(), ".release.env"), False)
# STATIC_ROOT is this release's own folder, not current/'s: the new color starts before current/
# is switched to it, and an app that reads its static files' manifest when a worker first renders
# (ManifestStaticFilesStorage) must read the release it serves (the env file names current/, which
# Nginx serves /static/ from; the two are the same files once the switch is made). Later wins.
raw_env.append('STATIC_ROOT=' + os.path.join(os.getcwd(), 'static'))

# No chdir here: the unit's WorkingDirectory resolves its color's link (/srv/shop/colors/<color>)
# when Gunicorn starts, and every release starts a fresh Gunicorn in the release it serves.
# `gunicorn --check-config` runs before the release is served, with --chdir.
preload_app = False

# No bind here: each instance (blue, green) gets its listening socket from its systemd socket unit,
# and its unit names that socket with --bind for a by-hand start. A bind here would be shared by
# both colors.
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

# Gunicorn 25.1+ opens a control socket (under $HOME) served by a thread in the master. systemd is
# the control interface here: no second one, no thread in the master that forks the workers.
# Older Gunicorn ignores the unknown name.
control_socket_disable = True


# The first workers of each Gunicorn write their pid into ready.<master pid> in the runtime directory
# once they have loaded the app: a release switches Nginx to a new Gunicorn only when all of them
# have (requests sent to one whose workers are still booting would wait). Later workers (after
# max_requests, a HUP) write nothing.
def post_worker_init(worker):
    if worker.age > worker.cfg.workers:
        return
    try:
        with open(f"/run/gunicorn-shop/ready.{worker.ppid}", "a", encoding="ascii") as ready:
            ready.write(f"{worker.pid}\n")
    except OSError:
        pass  # started by hand, without the runtime directory: nobody waits for it


proc_name = "gunicorn-shop"
loglevel = "info"
# Errors to stderr (the journal); the access log to a file rotated by logrotate (USR1 reopens it).
errorlog = "-"
accesslog = "/srv/shop/shared/logs/gunicorn-access.log"
capture_output = True
