"""``subalign average`` and ``subalign classify``: refinement of a particle set in rounds.

``config`` (schemas) and ``inputs`` (the set, mask, truth, checked before any work);
``average`` and ``classify`` run the rounds through ``loop`` (state per round, resuming,
half sets), aligning with ``passes`` (the batch worker, locally or globally), averaging
with ``classes`` (and ``allvsall`` for classification by clustering), writing with
``outputs`` and ``report``; ``truth`` scores poses and classes against a known truth.
The round loop's names, once in the module ``subalign.workflows.rounds``, are served from
``subalign.workflows.rounds.loop`` with a DeprecationWarning until 0.3.
"""

from subalign.deprecation import moved_names

__getattr__ = moved_names(__name__, {name: "subalign.workflows.rounds.loop" for name in (
    "HALVES", "MOVED_DEG", "MOVED_VOXELS", "RoundState", "assign_half_sets", "close_round",
    "copy_round_files", "finished_round", "load_state", "moved_summary", "pose_changes",
    "round_dir", "run_rounds", "save_state", "starting_state", "write_round_set")})
