"""Selecting, merging and splitting particle sets, every column of the source kept.

The set tools (``subalign select``, ``merge``, ``split``) work on :class:`ParticleSet`
rows and write them with the format writers, so a RELION table keeps its optics and
general blocks and every column, a Dynamo table its 35 or more columns.

Filters (:func:`select_rows`) read the model's fields (:mod:`subalign.io.particles`): class
numbers, half sets, tomogram names as ``subalign show`` lists them; scores from the
table's score column (Dynamo ``cc``, TOM/AV3 row 1, STOPGAP ``score``; RELION has none) or
from ``subalign batch``'s ``alignments.csv`` (:func:`read_alignments`), the only place a
confidence is kept; a pandas query on the source table's columns; rows counted from 1.

File names in a table (subtomograms, ``rlnCtfImage`` weights, tomogram files) are
rewritten to resolve from the folder a table is written to (:func:`rebased`).

Merging (:func:`merge_sets`) takes sets of one format, one pixel size, all with poses or
all without. RELION optics groups of equal settings (every column but the number and the
name) become one group; a group whose settings differ gets the next free number. A column
only some inputs have is filled with the format's empty value in the rows of the others:
0 for numbers, ``""`` for text (RELION's own defaults; a RELION 5 subtomogram angle of 0 is
no rotation). Particles listed twice (the same file, or the same tomogram and coordinate
to 0.001) are refused unless allowed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from subalign.io.particles import ParticleSet, ParticleTableError, rebase_names
from subalign.io.star import PATH_COLUMNS

__all__ = ["Filters", "random_parts", "read_alignments", "rebased",
           "select_rows", "split_groups"]

#: What each field is called in messages.
_WHAT = {"class_number": "class numbers", "half_set": "half sets", "tomogram": "tomogram names",
         "score": "scores"}


@dataclass(frozen=True)
class Filters:
    """The filters of ``subalign select``; a row is kept when it passes every one given.

    Attributes
    ----------
    classes : tuple of int
        Class numbers to keep (empty: any).
    half : int or None
        Half set 1 or 2.
    tomograms : tuple of str
        Tomogram names to keep (empty: any).
    min_score, max_score : float or None
        Bounds on the score, both included; a particle without a score fails them.
    min_confidence : float or None
        Lower bound on the confidence of ``alignments.csv``.
    query : str or None
        A pandas query (``DataFrame.query``) on the source table's columns.
    rows : str or None
        ``"A:B"``: rows A to B counted from 1, both included; either may be left out.
    """

    classes: tuple = ()
    half: int | None = None
    tomograms: tuple = ()
    min_score: float | None = None
    max_score: float | None = None
    min_confidence: float | None = None
    query: str | None = None
    rows: str | None = None


def _columns_listed(table: pd.DataFrame, most: int = 20) -> str:
    names = [str(c) for c in table.columns]
    text = ", ".join(names[:most])
    return text + (f" and {len(names) - most} more" if len(names) > most else "")


def _require_field(particles: ParticleSet, name: str, option: str) -> None:
    """Refuse a filter on a field the table does not hold, naming its column and the table's."""
    if particles.has(name):
        return
    table = particles.source.table if particles.source is not None else particles.fields
    column = particles.column(name)
    where = (f"column {column} absent or empty" if column != name
             else f"a {particles.source.format} table has no column for them")
    raise ParticleTableError(f"{particles.label}: {option}: the table has no {_WHAT[name]} "
                             f"({where}); its columns are {_columns_listed(table)}")


def read_alignments(path: str | os.PathLike, particles: ParticleSet) -> pd.DataFrame:
    """Score and confidence per particle from ``subalign batch``'s ``alignments.csv``.

    Its ``row`` (counted from 0) names the particle; where it has ``tag``, the tag must be
    the set's (the same set or its aligned table). Particles it does not list get NaN.

    Returns
    -------
    DataFrame
        n rows, columns ``score`` and ``confidence``.
    """
    path = Path(path)
    if not path.is_file():
        raise ParticleTableError(f"{path}: no such file (expected subalign batch's alignments.csv)")
    try:
        table = pd.read_csv(path)
    except Exception as exc:  # parser errors, empty files
        raise ParticleTableError(f"{path}: expected a CSV table, found {exc}") from None
    missing = [c for c in ("row", "score", "confidence") if c not in table.columns]
    if missing:
        raise ParticleTableError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                                 "subalign batch's alignments.csv with row, score, confidence")
    rows = pd.to_numeric(table["row"], errors="coerce").to_numpy(dtype=float)
    n = len(particles)
    bad = ~np.isfinite(rows) | (rows < 0) | (rows >= n) | (rows != np.round(rows))
    if bad.any():
        line = int(np.argmax(bad))
        raise ParticleTableError(f"{path}: line {line + 2}, column row: expected a particle row "
                                 f"from 0 to {n - 1} of {particles.label}, found {table['row'].iloc[line]!r}")
    rows = rows.astype(int)
    if "tag" in table.columns:
        tags = particles.fields["tag"].to_numpy()[rows]
        wrong = pd.to_numeric(table["tag"], errors="coerce").to_numpy(dtype=float) != tags
        if wrong.any():
            line = int(np.argmax(wrong))
            raise ParticleTableError(
                f"{path}: line {line + 2}: tag {table['tag'].iloc[line]} for row {rows[line]}, "
                f"whose tag in {particles.label} is {tags[line]}; expected the alignments of "
                "this set (or of its aligned table)")
    result = pd.DataFrame({"score": np.full(n, np.nan), "confidence": np.full(n, np.nan)})
    for column in ("score", "confidence"):
        result.loc[rows, column] = pd.to_numeric(table[column], errors="coerce").to_numpy(float)
    return result


def _rows_filter(particles: ParticleSet, text: str) -> np.ndarray:
    n = len(particles)
    first, colon, last = text.partition(":")
    try:
        low = int(first) if first.strip() else 1
        high = int(last) if last.strip() else n
    except ValueError:
        low = high = None
    if not colon or low is None or not 1 <= low <= high <= n:
        raise ParticleTableError(f"--rows: expected A:B with 1 <= A <= B <= {n} (rows counted "
                                 f"from 1, both included; A or B may be left out), found {text!r}")
    mask = np.zeros(n, bool)
    mask[low - 1:high] = True
    return mask


def _values_filter(particles: ParticleSet, name: str, option: str, wanted) -> np.ndarray:
    """Rows whose field ``name`` is one of ``wanted``; a value no particle has is refused."""
    _require_field(particles, name, option)
    values = particles.fields[name].to_numpy()
    present = set(pd.unique(values).tolist())
    absent = [w for w in wanted if w not in present]
    if absent:
        listed = ", ".join(str(v) for v in sorted(present, key=str)[:20])
        raise ParticleTableError(f"{particles.label}: {option} {absent[0]}: no particle has it; "
                                 f"expected one of the set's {_WHAT[name]}: {listed}")
    return np.isin(values, list(wanted))


def _query_filter(particles: ParticleSet, query: str) -> np.ndarray:
    from pandas.errors import UndefinedVariableError

    table = particles.source.table.reset_index(drop=True)
    try:
        kept = table.query(query)
    except UndefinedVariableError as exc:
        name = re.search(r"'([^']*)'", str(exc))
        raise ParticleTableError(
            f"{particles.label}: --query: column {name.group(1) if name else str(exc)!r} is not "
            f"in the table; its columns are {_columns_listed(table)}") from None
    except Exception as exc:  # pandas raises many kinds on a malformed query
        message = str(exc).splitlines()[0] if str(exc) else ""
        raise ParticleTableError(f"--query: expected a pandas query on the table's columns (e.g. "
                                 f"\"rlnClassNumber == 2\"), found {query!r}: "
                                 f"{type(exc).__name__}: {message}") from None
    return np.isin(np.arange(len(table)), kept.index)


def _score_filters(particles: ParticleSet, filters: Filters,
                   alignments: pd.DataFrame | None) -> list[tuple[str, np.ndarray]]:
    result = []
    bounds = [("--min-score", filters.min_score, "score", np.greater_equal),
              ("--max-score", filters.max_score, "score", np.less_equal),
              ("--min-confidence", filters.min_confidence, "confidence", np.greater_equal)]
    for option, bound, name, compare in bounds:
        if bound is None:
            continue
        if alignments is not None:
            values = alignments[name].to_numpy(float)
        elif name == "confidence":
            raise ParticleTableError("--min-confidence: confidences are in subalign batch's "
                                     "alignments.csv, not in particle tables; give --alignments "
                                     "alignments.csv")
        else:
            if not particles.has("score"):
                raise ParticleTableError(
                    f"{particles.label}: {option}: the table has no scores (RELION tables have "
                    "no score column); give --alignments alignments.csv of subalign batch")
            values = particles.fields["score"].to_numpy(float)
        with np.errstate(invalid="ignore"):
            result.append((f"{option} {bound:g}", np.nan_to_num(compare(values, bound), nan=False)
                           & np.isfinite(values)))
    return result


def select_rows(particles: ParticleSet, filters: Filters,
                alignments: pd.DataFrame | None = None) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """The rows passing every filter given, and how many pass each.

    Parameters
    ----------
    particles : ParticleSet
    filters : Filters
    alignments : DataFrame, optional
        :func:`read_alignments`; when given, scores and confidences come from it.

    Returns
    -------
    mask : ndarray of bool, shape (n,)
    counts : list of (str, int)
        Each filter as written on the command line and the rows it passes on its own.

    Raises
    ------
    ParticleTableError
        A filter on a field or column the table lacks (naming the table's columns), a value
        no particle has, malformed rows or query.
    """
    masks = []
    if filters.classes:
        masks.append(("--class " + " ".join(map(str, filters.classes)),
                      _values_filter(particles, "class_number", "--class", filters.classes)))
    if filters.half is not None:
        masks.append((f"--half {filters.half}", _values_filter(particles, "half_set", "--half",
                                                               [filters.half])))
    if filters.tomograms:
        masks.append(("--tomogram " + " ".join(filters.tomograms),
                      _values_filter(particles, "tomogram", "--tomogram", filters.tomograms)))
    masks += _score_filters(particles, filters, alignments)
    if filters.query is not None:
        masks.append((f"--query {filters.query!r}", _query_filter(particles, filters.query)))
    if filters.rows is not None:
        masks.append((f"--rows {filters.rows}", _rows_filter(particles, filters.rows)))
    mask = np.ones(len(particles), bool)
    for _, passed in masks:
        mask &= passed
    return mask, [(name, int(passed.sum())) for name, passed in masks]


def rebased(particles: ParticleSet, directory: str | os.PathLike) -> ParticleSet:
    """``particles`` as a table in ``directory`` names its files: subtomograms, the source
    table's file columns (``rlnCtfImage``) and tomogram files rewritten to resolve from
    there (:func:`subalign.io.tables.rebase_names`), with ``base_dir`` that directory."""
    base = particles.base_dir
    fields = particles.fields.copy()
    fields["subtomogram"] = particles.subtomograms_from(directory)
    source = particles.source
    if source is not None:
        table = source.table.copy()
        for column in PATH_COLUMNS:
            if column in table.columns and column != particles.column("subtomogram"):
                table[column] = rebase_names(table[column].to_numpy(dtype=object), base, directory)
        source = replace(source, table=table)
    named = [t for t in particles.tomograms.values() if t.path]
    paths = rebase_names([t.path for t in named], base, directory)
    tomograms = {**particles.tomograms, **{t.name: replace(t, path=str(p)) for t, p in zip(named, paths)}}
    return replace(particles, fields=fields, source=source, tomograms=tomograms,
                   base_dir=str(directory))


def split_groups(particles: ParticleSet, by: str) -> dict[str, np.ndarray]:
    """Rows per value of field ``by`` (``half``, ``class``, ``tomogram``), in order of first
    appearance, by the name suffix of their table: ``half1``, ``class3``, ``tomogram_TS_01``;
    particles without a value go in ``halfnone``, ``classnone``, ``tomogram_none``."""
    name = {"half": "half_set", "class": "class_number", "tomogram": "tomogram"}[by]
    _require_field(particles, name, f"--by {by}")
    values = particles.fields[name].to_numpy()
    empty = {"half_set": 0, "class_number": 0, "tomogram": ""}[name]
    groups: dict[str, np.ndarray] = {}
    for value in pd.unique(values):
        label = "none" if value == empty else str(value)
        suffix = (f"tomogram_{re.sub(r'[^A-Za-z0-9.-]+', '_', label)}" if by == "tomogram"
                  else f"{by}{label}")
        if suffix in groups:
            raise ParticleTableError(f"{particles.label}: tomograms {label!r} and another give the "
                                     f"same file name {suffix}; expected names that differ in "
                                     "letters, digits, '.' or '-'")
        groups[suffix] = np.flatnonzero(values == value)
    return groups


def random_parts(n: int, parts: int, seed: int) -> list[np.ndarray]:
    """``parts`` random parts of ``range(n)`` whose sizes differ by at most one, each in
    the set's order; the same ``seed`` gives the same parts (numpy's ``default_rng``)."""
    if not 2 <= parts <= n:
        raise ParticleTableError(f"--random: expected a number of parts from 2 to the {n} "
                                 f"particles, found {parts}")
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, parts)]
