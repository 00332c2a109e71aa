"""`python -m engine`: the local engine (parent and children), without Django."""

from .main import main

main()
