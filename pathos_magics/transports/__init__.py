"""How workers are started and reached; each knows nothing of maps or chunks.

    base.py      the contract: Transport, WorkerHandle, WorkerSink (the scheduler)
    serial.py    the caller's own thread (SerialPool)
    thread.py    threads of this process (ThreadPool)
    process.py   local processes, forked or spawned (ProcessPool)
    forker.py    the one thread that starts them, so they die with this process
    ssh/         workers on other hosts over ssh: both sides (ParallelPool)
    mpi/         the ranks of an MPI job: both sides (MpiPool)

Imports nothing itself: a host's server or an MPI rank loads only its own side.
"""
