"""Solver settings: one typed object, applied to RoadRunner in one place."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SolverOptions(BaseModel):
    """CVODE settings used for every simulation. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    relative_tolerance: float = Field(1e-6, gt=0, lt=1)
    absolute_tolerance: float = Field(1e-8, gt=0, lt=1)
    maximum_num_steps: int = Field(20_000, gt=0, le=10_000_000)
    stiff: bool = True

    def apply(self, runner) -> None:
        """Set these options on a RoadRunner instance's integrator."""
        integrator = runner.integrator
        integrator.stiff = self.stiff  # first: switching it rebuilds CVODE with default settings
        integrator.relative_tolerance = self.relative_tolerance
        integrator.absolute_tolerance = self.absolute_tolerance
        integrator.maximum_num_steps = self.maximum_num_steps


DEFAULT_SOLVER = SolverOptions()
