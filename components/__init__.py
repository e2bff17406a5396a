"""djangostack: a production Django stack per environment, as Pulumi components.

The source directory is ``components/``; the distribution and import name is ``djangostack``.
"""
