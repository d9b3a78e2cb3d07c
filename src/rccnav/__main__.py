"""``python -m rccnav``: the same program as the ``rccnav`` console script."""

from rccnav.adapters.program import run

if __name__ == "__main__":
    run()
