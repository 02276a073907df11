"""The only code that writes domain state.

Each action runs inside a caller's write transaction (`Database.write()`), validates, writes, enqueues
jobs and records events; the events are published and the jobs dispatched once that transaction commits.
"""
