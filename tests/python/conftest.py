"""Pytest setup: the health-check Lambda's directory is importable as in Lambda."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEALTH_CHECK_DIR = ROOT / "src" / "stack" / "health_check"
sys.path.insert(0, str(HEALTH_CHECK_DIR))
