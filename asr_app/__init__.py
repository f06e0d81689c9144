"""The Streamlit app's own logic, beside the pages that lay it out.

``state`` is the one module that imports streamlit (caches, session state); ``live`` runs models for
the Transcribe page; ``explore`` and ``recommendation`` shape sweep tables for their pages; ``charts``
builds Altair charts; ``present`` formats figures; ``inputs`` finds clips and checkpoints.
"""
