"""``python -m uavm`` (also what ``torchrun -m uavm`` runs)."""

from .cli import main

if __name__ == "__main__":
    main()
