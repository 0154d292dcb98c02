"""docs/service.md documents every setting (its table is what users read)."""

from __future__ import annotations

from pathlib import Path

from streamlearn.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "service.md"


def test_every_setting_is_in_the_settings_table() -> None:
    text = DOC.read_text()
    for name in Settings.model_fields:
        if name.startswith("synth_") and name != "synth_drift_every":
            assert "`synth_features` / `synth_labels` / `synth_groups`" in text
            continue
        assert f"| `{name}` | `STREAMLEARN_{name.upper()}` |" in text, name
