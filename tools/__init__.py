"""Development tools that are neither the package nor its tests (the systemd test host)."""
