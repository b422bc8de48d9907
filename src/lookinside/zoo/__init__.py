"""The diagnosis zoo: small training runs, healthy and broken, each labelled with what a
diagnosis must find (and must not), on models written the way their communities write them.

`lookinside.zoo.cases.CASES` lists them; `lookinside.zoo.run.run_case` trains one and scores
its diagnosis; `benchmarks/diagnosis_zoo.py` runs them all and prints the table.
"""
