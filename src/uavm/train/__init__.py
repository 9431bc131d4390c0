"""Training and evaluation of the UAVM models and their audio encoder (one trainer shell: shell.py)."""
