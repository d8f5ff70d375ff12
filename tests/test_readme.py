"""The README is part of the product: it lists every function the registry serves."""
from pathlib import Path

from webapp.functions import Registry

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_lists_every_registered_function():
    text = README.read_text()
    missing = [name for name in Registry().describe() if f"`{name}`" not in text]
    assert not missing, f"README.md does not list: {missing}"


def test_readme_has_the_quick_start():
    text = README.read_text()
    assert "make run" in text and "make test" in text
