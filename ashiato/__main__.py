"""`python -m ashiato`: the same command as `ashiato`."""

from ashiato.collector.cli import run

if __name__ == "__main__":
    run()
