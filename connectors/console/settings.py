"""The console's own settings (``GIGBRIDGE_CONSOLE_*``, also from the hub's env files); the hub's
settings (Kafka, unit tokens, read model) stay in :class:`gigbridge.settings.Settings`."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gigbridge.paths import env_files


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GIGBRIDGE_CONSOLE_", env_file=env_files(),
                                      env_file_encoding="utf-8", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8091, ge=0, le=65535)
    session_key: SecretStr | None = Field(
        None, description="urlsafe base64 of 32 random bytes (Fernet key of the session cookie); unset: a new "
                          "key per start, so every session ends when the console restarts")
    idle_timeout_s: float = Field(15 * 60, gt=0, description="signed out after this long without a request")
    absolute_timeout_s: float = Field(8 * 3600, gt=0, description="signed out this long after signing in")
    cookie_secure: bool = Field(
        True, description="session cookie only over HTTPS; false only for a plain-HTTP demo on loopback")
    signin_failures_per_minute: float = Field(5.0, gt=0, description="failed sign-ins a client regains per minute")
    signin_burst: int = Field(5, ge=1, description="failed sign-ins in a row before a client must wait")
