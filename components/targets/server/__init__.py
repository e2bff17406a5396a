"""The ``server`` target: one Linux host reached over SSH, configured by the host layer."""
