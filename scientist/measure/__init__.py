"""Measurement: best-of-n selection among candidates (`sampling`), pairwise tournaments (`tournament`), and the
statistics of best-of-k from one scored pool with log-k fits and paired comparisons (`stats`)."""
