"""The Streamlit app's own logic, beside the pages that lay it out.

``state`` is the one module that imports streamlit (caches, session state); ``choices`` says what this machine
can run; ``configs`` names the configurations compared; ``live`` runs them for the Transcribe page; ``history``,
``figures`` and ``compare`` say what finished runs show; ``sweep_views`` and ``use_cases`` shape sweep tables
for Explore and Recommend; ``precomputed`` finds the shipped data; ``charts`` builds Altair charts; ``present``
formats figures; ``inputs`` finds clips and checkpoints; ``share`` keeps a view in its link.
"""
