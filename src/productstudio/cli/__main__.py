"""`python -m productstudio.cli` runs the `productstudio` command."""

from productstudio.cli import main

if __name__ == "__main__":
    main()
