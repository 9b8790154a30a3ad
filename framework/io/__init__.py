"""I/O: the one MRC reader and writer (:mod:`~subalign.io.mrc`), atomic writes
(:mod:`~subalign.io.files`), STAR tables (:mod:`~subalign.io.star`) and PNG figures
(:mod:`~subalign.io.figures`). Conventions of a file format are converted here, at the edge.
"""
