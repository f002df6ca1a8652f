"""`python -m mararch` and the `mararch` console script."""

from __future__ import annotations


def main() -> None:
    from .cli import run

    run()


if __name__ == "__main__":
    main()
