"""Gunicorn settings of the container image (the CMD runs `gunicorn project.wsgi:application` in
/app, which loads this file). Precedence, lowest first: this file, then GUNICORN_CMD_ARGS from the
deployment, then flags on the command line. The server target passes its own --config instead."""

import os

# Cloud Run (and `docker run -e PORT=...`) say which port to listen on.
bind = [f"0.0.0.0:{int(os.environ.get('PORT', '8080'))}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = 4
timeout = 120
graceful_timeout = 30
# JSON lines come from Django's logging; Gunicorn's own error log goes to stderr.
accesslog = None
errorlog = "-"
# Gunicorn 23+ opens a control socket under $HOME by default; the app user cannot write /app (and
# needs no runtime control in a container).
control_socket_disable = True
