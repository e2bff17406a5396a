"""Entry point of the source plugin: the component provider of the installed ``djangostack``."""

from djangostack.provider import main

main()
