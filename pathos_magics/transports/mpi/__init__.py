"""Workers as the ranks of an MPI job: both ends of the protocol, side by side.

    protocol.py   what both sides agree on (frames, control messages, invitation)
    launcher.py   the kernel's side of a start: mpiexec argv, handshake, why a job ended
    transport.py  the kernel's side of a running job: MpiTransport, a worker per rank
    job.py        the job's side: rank 0 relays, ranks 1..N run the worker loop

``python -m pathos_magics.mpi`` (a shim) runs job.main on every rank; this
package's ``__init__`` imports nothing, so a rank loads only what it needs.
"""
