import sys
from pathlib import Path

# Make the tests' shared helpers (nbgrader_e2e.py) importable as plain modules.
sys.path.insert(0, str(Path(__file__).parent))
