"""Recordings of the host (``nsscope record``) and their replay (every view's ``--from``).

A recording is an SQLite file (stdlib ``sqlite3``; schema in ``schema.py`` and
docs/recording.md). ``writer`` appends one sample of a ``Snapshot`` at a time;
``reader`` gives ``Snapshot``s back, the same immutable model the live
collector makes, so every view shows a recorded moment with the code that
shows a live one. A recorder is a reader of the host: nothing here changes it.
"""
