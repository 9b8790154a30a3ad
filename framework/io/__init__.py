"""I/O: the one MRC reader and writer (:mod:`~subalign.io.mrc`), atomic writes
(:mod:`~subalign.io.files`), STAR tables (:mod:`~subalign.io.star`), PNG figures
(:mod:`~subalign.io.figures`) and particle sets (:mod:`~subalign.io.particles`, the formats
in :mod:`~subalign.io.formats`, subtomograms in :mod:`~subalign.io.subtomograms`, tomogram
tables in :mod:`~subalign.io.tomograms`). Conventions of a file format are converted here, at
the edge, one module per format.
"""
