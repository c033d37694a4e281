"""The running service loads only what it uses: no Alembic for the readiness check, no OpenTelemetry SDK while
tracing is off, no password hash at import."""

import os
import subprocess
import sys

from alembic.script import ScriptDirectory

from app.core.migrations import _base_config, code_heads

PROBE = """
import sys
import app.main
from app.core.migrations import code_heads
from app.core.config import Settings
app.main.create_app(Settings.from_mapping({"DATABASE_URL": "postgresql://bosun@127.0.0.1:9/bosun"}))
code_heads()
import app.core.security as security
loaded = sorted({name.split(".")[0] for name in sys.modules} & {"alembic", "mako", "pygments", "psutil"})
tracing = ("opentelemetry.sdk", "opentelemetry.instrumentation")
loaded += sorted(name for name in sys.modules if name.startswith(tracing))
loaded += ["dummy hash made"] if security._dummy_hash.cache_info().currsize else []
print(",".join(loaded))
"""


def test_building_the_app_loads_no_migration_or_tracing_machinery() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_code_heads_agree_with_alembic() -> None:
    assert code_heads() == frozenset(ScriptDirectory.from_config(_base_config()).get_heads())
