"""djangostack's security guardrails: a pulumi-policy pack (``__main__.py``) over pure checks
(``guardrails.py``), with a runner for mocks recordings (``runner.py``). See README.md."""
