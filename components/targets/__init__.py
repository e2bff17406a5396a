"""Where a stack runs: ``server`` (any Linux host over SSH), ``aws`` (EC2) and ``gcp`` (Cloud Run).

Each target package holds its own ``rules`` (pure, run by ``validation.validate``) and its resources;
``<target>.target.deploy`` wires them together.
"""
