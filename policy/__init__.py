"""djangostack's security guardrails: a pulumi-policy pack (``__main__.py``) over pure checks (the
``guardrails`` package, one module per concern), with a runner for mocks recordings (``runner.py``).
See README.md."""
