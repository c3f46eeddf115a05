"""Studies: a grid of runs over scaffold variants (spec, check, execute), and its report (report, render)."""
