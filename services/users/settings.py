"""Configuration of the users service (SEATMESH_* environment variables).

Signing keys (see keyring.py): by default the service keeps a key ring in `SEATMESH_KEY_DIR`
(generated on first start, rotated every `SEATMESH_KEY_ROTATION_SECONDS`; replicas may share the
directory). `SEATMESH_SIGNING_KEY_FILE` instead names a PEM file managed by the operator: its first
Ed25519 private key signs, any further keys in it are only published (for rotating by hand).
"""

from pathlib import Path

from pydantic import Field

from services.runtime.settings import ServiceSettings

DAY = 86_400


class UsersSettings(ServiceSettings):
    port: int = Field(default=50051, ge=0, le=65535)

    # -- signing keys ---------------------------------------------------------------------------
    key_dir: Path = Path("var/keys")
    signing_key_file: Path | None = None
    # How long a key signs before its successor takes over.
    key_rotation_seconds: float = Field(default=30 * DAY, ge=3600)
    # A new key is published this long before it signs: longer than every JWKS cache (Envoy and
    # the services cache 300 s) plus the key ring's reload interval, or fresh tokens get refused.
    key_publish_lead_seconds: float = Field(default=600, ge=0)
    # How often each replica re-reads the key directory (and rotates when due).
    key_reload_seconds: float = Field(default=30, gt=0)

    # -- tokens ---------------------------------------------------------------------------------
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    refresh_token_ttl_seconds: int = Field(default=30 * DAY, ge=3600)
    service_token_ttl_seconds: int = Field(default=300, ge=60, le=3600)

    # -- login throttling (failed attempts in a fixed window, in Redis) ---------------------------
    login_window_seconds: int = Field(default=900, ge=1)
    login_max_failures_per_email: int = Field(default=10, ge=1)
    login_max_failures_per_ip: int = Field(default=100, ge=1)

    # -- sign-up throttling (fixed window, in Redis) ----------------------------------------------
    # Sign-ups, and separately verification codes sent (email or SMS), per client address and in
    # total. Each sign-up costs an Argon2 hash and an email, each code an email or an SMS: the total
    # caps what a crowd of addresses can cost. Load tests from one address raise the first.
    signup_window_seconds: int = Field(default=3600, ge=1)
    signup_max_per_ip: int = Field(default=30, ge=1)
    signup_max_total: int = Field(default=3000, ge=1)

    # -- email and phone verification -----------------------------------------------------------
    verification_code_ttl_seconds: int = Field(default=900, ge=60)
    verification_max_attempts: int = Field(default=5, ge=1)
    # At most one code per email address or phone number per interval, and so many per hour.
    verification_resend_interval_seconds: int = Field(default=60, ge=0)
    verification_max_sends_per_hour: int = Field(default=5, ge=1)

    # -- password hashing (Argon2id; OWASP's 19 MiB / 2 passes / 1 lane: ~30 ms on one core) ------
    password_memory_kib: int = Field(default=19_456, ge=8_192)
    password_time_cost: int = Field(default=2, ge=1)
    # Hashes computed at once per process; 0 means one per CPU core.
    password_hash_concurrency: int = Field(default=0, ge=0)
