"""One file per schema revision; each only adds, so an older store upgrades in place."""
