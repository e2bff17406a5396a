"""The gcp-cloudrun target: Cloud Run, Cloud SQL, Memorystore, Secret Manager and GCS.

One component per module; ``target.deploy`` wires them together. ``naming`` holds the pure helpers
(physical names, the migration execution token, the deterministic run.app host) so they can be
tested without Pulumi.
"""
