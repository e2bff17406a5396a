"""What every target promises: the stack outputs (and the app environment all targets build)."""
