"""A deterministic interruption for tests of interrupted runs (tests/test_runs.py,
tests/test_batch_dask.py), loaded by Python at start-up when this folder is on ``PYTHONPATH``;
it does nothing unless asked.

``SUBALIGN_TEST_KILL_AFTER=N``: the process sends itself SIGKILL (no cleanup, as a killed job)
once the record store named ``SUBALIGN_TEST_KILL_FILE`` (a file name, or the end of its path:
``round_002/align_half1.bin``) holds ``N`` records, counting those
it read at start. The store is a :class:`subalign.execution.store.RowLog` (``rows.jsonl``) or
an :class:`subalign.execution.arraylog.ArrayLog` (``results.bin``). The signal goes at the next
write to a store after that moment: the job clock's tick that follows the N-th record, or,
when the store held ``N`` records when it was opened, before its first new record. The moment
is then a number of records, never a race with a timer. Options:

``SUBALIGN_TEST_KILL_TORN=1``
    Instead, while writing the next record once ``N`` are in: half of it on disk, then SIGKILL.
``SUBALIGN_TEST_KILL_SIGNAL=INT``
    SIGINT to the process group instead of SIGKILL, as Ctrl-C in a terminal sends it (the
    process must lead its group: start it with ``start_new_session=True``; otherwise only
    the process itself gets it). Sent once; the writing thread, if it is the main one, then
    waits up to 10 s, so the KeyboardInterrupt is raised there, at this record, and the
    run ends as it answers Ctrl-C.
``SUBALIGN_TEST_KILL_GROUPS=DIR``
    SIGKILL the process groups whose leaders' pids are in ``DIR/*.pid`` instead of this
    process (the stand-in SLURM jobs of tests/test_batch_dask.py: a worker job killed while
    the batch goes on). Sent once.

Only the process that writes the named store acts; the workers it starts load this module
too, and write no store.
"""

import os

_AFTER = os.environ.get("SUBALIGN_TEST_KILL_AFTER")

if _AFTER is not None:
    import glob
    import json
    import signal
    import sys
    import threading
    import time

    from subalign.execution import arraylog, store

    _after = int(_AFTER)
    _torn = bool(os.environ.get("SUBALIGN_TEST_KILL_TORN"))
    _file = os.environ.get("SUBALIGN_TEST_KILL_FILE", "")
    _interrupt = os.environ.get("SUBALIGN_TEST_KILL_SIGNAL", "KILL").upper() == "INT"
    _groups = os.environ.get("SUBALIGN_TEST_KILL_GROUPS")
    _state = {"armed": False, "sent": False}  # armed: the N-th record is in; the next write acts

    def _named(path) -> bool:
        return path.name == _file or path.as_posix().endswith(f"/{_file}")

    def _strike() -> None:
        _state["sent"] = True  # first: a KeyboardInterrupt may be raised as soon as SIGINT is sent
        if _groups is not None:
            for name in glob.glob(os.path.join(_groups, "*.pid")):
                try:
                    with open(name) as handle:
                        os.killpg(int(handle.read()), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        elif _interrupt:
            if os.getpgrp() == os.getpid():
                os.killpg(os.getpgrp(), signal.SIGINT)
            else:
                os.kill(os.getpid(), signal.SIGINT)
            if threading.current_thread() is threading.main_thread():
                # the KeyboardInterrupt is raised here, at this record, whichever thread the
                # kernel gave the signal to; not at some later line that might swallow it
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    time.sleep(0.01)
                sys.stderr.write("kill_hook: SIGINT sent, no KeyboardInterrupt within 10 s\n")
        else:
            os.kill(os.getpid(), signal.SIGKILL)

    def _wrapped(cls) -> None:
        init, add = cls.__init__, cls.add

        def opening(self, *args, **kwargs):
            init(self, *args, **kwargs)
            if (_named(self.path) and len(self.rows) >= _after and not _torn
                    and not _state["sent"]):
                _state["armed"] = True

        def killing_add(self, row):
            if _state["sent"]:
                return add(self, row)
            if _state["armed"]:  # before a record of the named store, after one of another
                if _named(self.path):
                    _strike()
                    return add(self, row)
                add(self, row)
                return _strike()
            if not _named(self.path):
                return add(self, row)
            if _torn and len(self.rows) >= _after:
                add(self, row)  # the whole record, then the file cut in its middle
                size = os.path.getsize(self.path)
                record = getattr(self, "record_bytes", None) or len(json.dumps(row)) + 1
                os.truncate(self.path, size - record // 2)
                os.kill(os.getpid(), signal.SIGKILL)
            add(self, row)
            if not _torn and len(self.rows) >= _after:
                _state["armed"] = True

        cls.__init__, cls.add = opening, killing_add

    _wrapped(store.RowLog)
    _wrapped(arraylog.ArrayLog)
