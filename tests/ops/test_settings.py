"""Settings from defaults, the TOML file and APPLIANCE_* variables, in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.ops.settings import load_settings


def test_defaults_derive_paths_from_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"APPLIANCE_DATA_DIR": str(tmp_path)})
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'appliance.db'}"
    assert settings.storage_path == tmp_path / "media"
    assert settings.queue_sqlite_path == tmp_path / "queue"
    assert settings.thresholds.biometry == 0.85 and settings.auth.token_ttl_seconds == 900


def test_file_then_environment(tmp_path: Path) -> None:
    (tmp_path / "appliance.toml").write_text(
        "retention_days = 7\n[limits]\nmax_file_bytes = 1000\nmax_files_per_request = 3\n"
    )
    settings = load_settings(
        {
            "APPLIANCE_DATA_DIR": str(tmp_path),
            "APPLIANCE_LIMITS__MAX_FILE_BYTES": "2000",
            "APPLIANCE_PLUGIN_MODULES": '["a.b", "c"]',
            "APPLIANCE_QUEUE__BACKEND": "redis",
            "APPLIANCE_ADMIN_PASSWORD": "not a setting",
            "APPLIANCE_TEST_SWITCH": "ignored",
        }
    )
    assert settings.retention_days == 7
    assert settings.limits.max_file_bytes == 2000 and settings.limits.max_files_per_request == 3
    assert settings.plugin_modules == ["a.b", "c"] and settings.queue.backend == "redis"


def test_config_path_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text("[api]\nport = 9999\n")
    assert load_settings({"APPLIANCE_DATA_DIR": str(tmp_path), "APPLIANCE_CONFIG": str(config)}).api.port == 9999


@pytest.mark.parametrize(
    ("environ", "file_text", "message"),
    [
        ({"APPLIANCE_API__PORT": "eighty"}, "", "api.port"),
        ({"APPLIANCE_QUEUE__BACKEND": "kafka"}, "", "queue.backend"),
        ({}, "[limits]\nmax_file_size = 1\n", "max_file_size"),
        ({}, "retention_days = \n", "config file"),
    ],
)
def test_invalid_settings_name_the_culprit(
    tmp_path: Path, environ: dict[str, str], file_text: str, message: str
) -> None:
    (tmp_path / "appliance.toml").write_text(file_text)
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        load_settings({"APPLIANCE_DATA_DIR": str(tmp_path), **environ})
