"""``python -m pathos_magics.mpi``: the entry point of every rank of an MpiPool job.

The job's code lives with the rest of the MPI transport
(:mod:`pathos_magics.transports.mpi.job`); this shim keeps the command short.
"""
from .transports.mpi.job import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
