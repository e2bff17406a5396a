"""Review aids for pull requests: the migration linter."""
