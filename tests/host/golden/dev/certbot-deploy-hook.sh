#!/usr/bin/env bash
# certbot deploy hook for notes: point Nginx's stable certificate paths at the lineage
# and reload Nginx. Runs after every successful issuance or renewal. Rendered by components.host.
set -euo pipefail
live=/etc/letsencrypt/live/notes
if [[ -s "$live/fullchain.pem" && -s "$live/privkey.pem" ]]; then
    ln -sfn "$live/fullchain.pem" /etc/notes/tls/fullchain.pem
    ln -sfn "$live/privkey.pem" /etc/notes/tls/privkey.pem
fi
if nginx -t -q; then
    systemctl reload nginx
fi
