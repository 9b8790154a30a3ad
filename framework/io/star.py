"""STAR files (RELION's and STOPGAP's tables) read and written with ``starfile``.

Reading keeps every block: loop blocks as DataFrames, simple blocks as dicts. Columns that
hold names (:data:`NAME_COLUMNS`) are read as text, so ``001`` stays ``001``; the others are
numbers where every value is one. Writing is atomic (:func:`subalign.io.files.atomic_path`)
and prints floats in their shortest exact form, so a value read and written again is the
same number.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from subalign.io.files import atomic_path
from subalign.io.particles import ParticleTableError, rebase_names

__all__ = ["NAME_COLUMNS", "PATH_COLUMNS", "copy_star", "loop_block", "read_star", "write_star"]

#: Columns read as text whatever they look like.
NAME_COLUMNS = ["rlnTomoName", "rlnMicrographName", "rlnImageName", "rlnCtfImage", "rlnOpticsGroupName",
                "rlnTomoParticleName", "rlnTomoTiltSeriesStarFile", "rlnTomoReconstructedTomogram",
                "halfset"]

#: Columns that name files relative to the table's folder.
PATH_COLUMNS = ["rlnImageName", "rlnCtfImage"]


def read_star(path: str | os.PathLike) -> dict:
    """Every block of a STAR file by name (``data_particles`` is ``"particles"``).

    Raises
    ------
    ParticleTableError
        The file is missing or not a STAR file.
    """
    import starfile

    path = Path(path)
    if not path.is_file():
        raise ParticleTableError(f"{path}: no such file (expected a STAR file)")
    try:
        blocks = starfile.read(path, always_dict=True, parse_as_string=NAME_COLUMNS)
    except Exception as exc:  # the parser raises several types on malformed text
        raise ParticleTableError(f"{path}: expected a STAR file, found {type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not blocks:
        raise ParticleTableError(f"{path}: expected a STAR file with data blocks, found none")
    for name, block in blocks.items():
        repeated = block.columns[block.columns.duplicated()] if hasattr(block, "columns") else []
        if len(repeated):
            raise ParticleTableError(f"{path}: data_{name}: column {repeated[0]} appears more than "
                                     "once; expected each column once")
    return blocks


def write_star(path: str | os.PathLike, blocks: dict) -> Path:
    """Write blocks (DataFrames as loops, dicts as simple blocks) in order, atomically.

    The same blocks always give the same bytes: starfile's first line, which holds the time,
    is replaced by a fixed one.
    """
    import starfile

    text = starfile.to_string(dict(blocks), float_format=None)
    first, _, rest = text.partition("\n")
    if first.startswith("# Created by the starfile"):
        text = "# written by subalign (starfile)\n" + rest
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return Path(path)


def loop_block(blocks: dict, name: str, source: str, required: bool = True) -> pd.DataFrame | None:
    """The loop block ``name`` (``data_<name>``) of :func:`read_star`'s result.

    Raises naming ``source`` when it is required and absent or not a table.
    """
    block = blocks.get(name)
    if isinstance(block, pd.DataFrame):
        return block
    if required:
        found = ", ".join(f"data_{k}" for k in blocks) or "no blocks"
        raise ParticleTableError(f"{source}: expected a table data_{name}, found {found}")
    return None


def copy_star(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy a STAR table to another folder, its relative file names (:data:`PATH_COLUMNS`)
    rewritten so they still name the same files from there."""
    blocks = read_star(source)
    for name, block in blocks.items():
        if isinstance(block, pd.DataFrame):
            for column in PATH_COLUMNS:
                if column in block.columns:
                    block[column] = rebase_names(block[column].to_numpy(dtype=object),
                                                 Path(source).parent, Path(target).parent)
    return write_star(target, blocks)
