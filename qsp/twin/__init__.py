"""Digital twin: one patient's own model from their visits, and forecasts with predictive bands.

**What is estimated.** A patient is the model with their own random effects
(``eta_amy_growth``, ``eta_amy_plateau``, ``eta_tau``, ``eta_clin``, ``clin_offset_cdrsb``;
prior: the population IIV, normal with the parameter table's SDs) and their place on their own
natural history: ``t0``, the years from amyloid onset (0 CL, tau-free, CDR-SB 0) to the
baseline visit (week 0). The disease state at every visit (amyloid, tau, latent severity and the
lagged amyloid that drives tau) is read off that one trajectory, so the baseline state is
estimated with the random effects, consistent with them, and the years since amyloid positivity
come with it. ``t0`` has a weak normal prior (30 +- 30 years, bounded to 0-75), nearly flat, so
that the visits decide. Visits are taken as untreated.

**Method: MAP + Laplace, refined by importance sampling** (say which and why):

1. MAP by Gauss-Newton / trust-region least squares on the whitened residuals
   (observations over their measurement SDs from ``constants.MEASUREMENT_SD``, random effects
   over their prior SDs), from the best few starts of a small grid over ``t0`` and the tau and
   plateau effects (the posterior can have several modes along the continuum).
2. Laplace approximation at the MAP: covariance from the Gauss-Newton Hessian ``J'J``.
3. Importance sampling with a multivariate Student-t (4 df, covariance inflated 1.5x) centred
   on the MAP as proposal; weights = exact posterior / proposal, one ODE solve per draw.

Why: one solve takes about a millisecond, so a few hundred draws cost less than a second,
while MCMC would need thousands of sequential solves per patient. A pure Laplace approximation
is too narrow when the posterior is skewed (rates of decline are log-normal; early patients
barely inform their rate), which would make the bands over-confident; the importance weights
correct the Gaussian shape at little cost, and the effective sample size (``ess_``) tells when
the correction is weak. Random effects the visits cannot inform before treatment
(``eta_cl``, ``z_amy_response``) are drawn from the population for regimen forecasts.

**Forecasts** are posterior-predictive: each draw's trajectory plus a measurement error drawn
from ``MEASUREMENT_SD`` (scores clipped to their scales), summarised as median and 80%/95%
bands. Times to the next stage and to a meaningful decline (iADRS drop of 9, CDR-SB rise of 1)
are taken on the twin's true scores (without measurement error) from the last visit.

**Model (structural) error** (which and why): real patients do not follow the model exactly, and
a twin fitted to a few visits extrapolates its own shape of decline. The bands therefore add, to
each observable, a normal model-error term whose SD grows linearly with the time since the last
visit, ``MODEL_ERROR_SD_PER_YEAR[obs] * years_ahead`` (combined with the measurement SD in
quadrature). Linear because a wrong rate or a wrong shape of decline gives an error that grows
with the distance from the data, while at the visits themselves the fit already absorbs it. The
SDs were set from ``bench/bench_twin.py``'s departing patients (truth with random effects at
twice the prior SD, no acceleration with stage, a shorter tau lag): the coverage each value
gives there was read off the forecasts of 22 such patients, and values were chosen between
what the departing patients need and what keeps the model's own patients near nominal. The term
is not used in the fit: with 2-4 visits an extra variance is not identifiable, and inflating the
likelihood would only widen the posterior uniformly. A heavier-tailed likelihood was not chosen
because the departures are systematic (drift), not occasional outliers. Pass
``model_error_sd_per_year={obs: 0.0, ...}`` to :func:`forecast_twin` for measurement error only.

Nothing here reads or writes files except :func:`read_patient_csv` (which only reads).
"""
