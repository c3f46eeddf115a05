"""The automated reviewer.

- `form`: the NeurIPS-style review form and the records around it (Review, EnsembleReview, MetaReview).
- `paper`: PDF / LaTeX / Markdown → titled sections, hidden-text defences, length caps by whole sections.
- `injection`: detection and removal of text aimed at the reviewer model (`InjectionFlag`).
- `reviewer`: one review with reflection rounds, an ensemble of independent reviewers, the area chair's meta-review.
- `aggregate`: mean / median / spread of scores and the consensus form.
- `examples` + `fewshot/`: public human reviews used as few-shot examples (with provenance).
- `calibrate` + `metrics` + `data/`: agreement with human decisions on a labelled set.
"""
