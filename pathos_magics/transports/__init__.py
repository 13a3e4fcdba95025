"""How workers are started and reached: thread, local process, ssh host, MPI job.

A transport starts workers and reports what they say to a :class:`WorkerSink`
(the scheduler).  It knows nothing about maps or chunks.
"""
from .base import Transport, WorkerHandle, WorkerSink

__all__ = ["Transport", "WorkerHandle", "WorkerSink"]
