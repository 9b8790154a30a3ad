"""A deterministic kill for tests of interrupted runs (tests/test_runs.py), loaded by Python at
start-up when this folder is on ``PYTHONPATH``; it does nothing unless asked.

``SUBALIGN_TEST_KILL_AFTER=N``: the process sends itself SIGKILL (no cleanup, as a killed job)
once the :class:`subalign.execution.store.RowLog` named ``SUBALIGN_TEST_KILL_FILE`` (e.g.
``rows.jsonl``) holds ``N`` records, counting those it read at start: after the next write to
another store (the job clock's tick that follows a record), or before the next record; with
``SUBALIGN_TEST_KILL_TORN=1`` instead while writing the next record, half of its line on disk. The moment is then a number of records, never a race with a timer.
"""

import os

_AFTER = os.environ.get("SUBALIGN_TEST_KILL_AFTER")

if _AFTER is not None:
    import json
    import signal

    from subalign.execution import store

    _add = store.RowLog.add
    _torn = bool(os.environ.get("SUBALIGN_TEST_KILL_TORN"))
    _file = os.environ.get("SUBALIGN_TEST_KILL_FILE", "")

    _armed = []  # set once the N-th record is in: the next write (the job clock's tick) is the last

    def _killing_add(self, row):
        if _armed:
            if self.path.name != _file:
                _add(self, row)
            os.kill(os.getpid(), signal.SIGKILL)
        if self.path.name != _file:
            return _add(self, row)
        if _torn and len(self.rows) >= int(_AFTER):
            line = json.dumps(row) + "\n"
            with open(self.path, "a") as handle:
                handle.write(line[: len(line) // 2])
                handle.flush()
                os.fsync(handle.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        _add(self, row)
        if not _torn and len(self.rows) >= int(_AFTER):
            _armed.append(True)

    store.RowLog.add = _killing_add
