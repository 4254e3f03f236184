"""PostgreSQL and Redis for the test session: DATABASE_URL/REDIS_URL when set, else embedded ones.

Every database and Redis key a session creates carries a per-run prefix, so concurrent runs on one
machine never see each other, and the session removes what it created.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from scripts.embedded import EmbeddedPostgres, EmbeddedRedis
from scripts.mesh import database_url_for
from services.runtime.migrations import drop_databases, run_migrations
from services.runtime.redis import delete_keys


@dataclass
class Engines:
    server_url: str
    redis_url: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def database_prefix(self) -> str:
        return f"smt{self.run_id}"

    @property
    def redis_prefix(self) -> str:
        return f"smt{self.run_id}:"

    def new_redis_prefix(self) -> str:
        return f"smt{self.run_id}-{next(self._counter)}:"

    def new_database(self, service: str, migrations: Path | None = None) -> str:
        """A fresh, migrated database for one service under test."""
        url = database_url_for(self.server_url, f"{self.database_prefix}_{service}_{next(self._counter)}")
        if migrations is None:
            migrations = Path(__file__).resolve().parents[2] / "services" / service / "migrations"
        run_migrations(url, migrations)
        return url

    @classmethod
    def start(cls, server_url: str | None, redis_url: str | None, workdir: Path) -> Engines:
        postgres = redis = None
        if not server_url:
            postgres = EmbeddedPostgres.start(workdir / "postgres")
            server_url = postgres.url
        if not redis_url:
            redis = EmbeddedRedis.start(workdir / "redis")
            redis_url = redis.url
        return cls(server_url=server_url, redis_url=redis_url, postgres=postgres, redis=redis)

    def cleanup(self) -> None:
        if self.postgres is None:
            drop_databases(self.server_url, self.database_prefix)
        else:
            self.postgres.stop()
        if self.redis is None:
            delete_keys(self.redis_url, f"smt{self.run_id}")
        else:
            self.redis.stop()
