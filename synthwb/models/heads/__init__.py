"""Path heads, one module each; importing this package registers them in HEADS."""
from synthwb.models.heads import bridge, gbm, horizon, mixture, sde, student_t, term  # noqa: F401
