"""Three sets of labelled training runs written by other hands, blind to the diagnosis' rules
(each author read only the harness, `lookinside.zoo`, and the finding kinds' meanings), in
styles the zoo does not have. `benchmarks/diagnosis_independent.py` scores the diagnosis on
them. Each set was first run once, as written; the rules were then improved where they were
wrong, so the sets are no longer blind: they guard against regressions.
"""
