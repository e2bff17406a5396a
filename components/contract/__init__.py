"""The app contract: what every target hands the Django app (its environment) and reports back."""
