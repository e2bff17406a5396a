"""Stack settings: one pydantic model per concern, how they are loaded, and the one error type.

- ``fields``: shared field types and the base model; ``defaults``: per-environment sizings;
- ``app``, ``web``, ``data``, ``celery``, ``domain``, ``network``, ``observability``, ``targets``:
  one module per concern; ``stack``: ``StackSettings``, the whole stack;
- ``loading``: from Pulumi config or a stack file; ``errors``: ``SettingsError``;
- ``rules``: guardrails every target shares; ``limits``: values a cloud API would refuse.

``validation.validate`` (one level up) runs every rule once.
"""
