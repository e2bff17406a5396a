"""The pre-package import path, kept for Pulumi state written before the program became a package.

Until the source directory became the ``djangostack`` package it was imported as ``components``,
and Pulumi pickled the ``builtin-ssh`` dynamic providers into state under that path
(``components.host.ssh_provider.SshCommandProvider``). Deleting or refreshing such a resource
unpickles its provider from state in the engine's dynamic-provider process, which imports nothing
of the program first: the old path must import on its own wherever djangostack is installed. This
package (shipped next to ``djangostack``) holds only that path. In a checkout, ``components/`` on
the working directory is the source itself and serves the same names.
"""
