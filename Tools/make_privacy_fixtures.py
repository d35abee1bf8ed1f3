#!/usr/bin/env python3
"""Writes Tests/CortexPrivacyTests/Fixtures/rdp_accountant.json from Opacus's RDP accountant.

ε on a grid of (sample rate q, noise multiplier σ, steps, δ) over Opacus's default orders,
with the optimal order; Opacus's doctest vector from opacus/accountants/analysis/rdp.py
(orders 2..32); and get_noise_multiplier for a few budgets. Run with the reference venv:

    $CORTEX_TORCH_PYTHON Tools/make_privacy_fixtures.py
"""
import json
import os
import warnings

import numpy as np
import opacus
from opacus.accountants import RDPAccountant
from opacus.accountants.analysis import rdp as analysis
from opacus.accountants.utils import get_noise_multiplier

warnings.simplefilter("ignore")
grid = []
for q in [0.001, 256 / 60000, 0.01, 0.05, 0.2, 1.0]:
    for sigma in [0.5, 0.8, 1.0, 1.3, 2.0, 4.0]:
        for steps in [1, 100, 1000, 14000]:
            for delta in [1e-5, 1e-3]:
                accountant = RDPAccountant()
                accountant.history = [(sigma, q, steps)]
                epsilon, order = accountant.get_privacy_spent(delta=delta)
                grid.append({"sample_rate": q, "noise_multiplier": sigma, "steps": steps, "delta": delta,
                             "epsilon": float(epsilon), "order": float(order)})

# The doctest in rdp.py: two mechanisms composed, orders 2..32, delta 1e-5 -> (0.336, 23).
orders = list(range(2, 33))
rdp = np.zeros(len(orders))
for q, sigma, steps in [(1e-5, 1.0, 10), (1e-4, 3.0, 4)]:
    rdp += analysis.compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=orders)
doctest_epsilon, doctest_order = analysis.get_privacy_spent(orders=orders, rdp=rdp, delta=1e-5)

# A history of two phases (a change of noise midway), as a resumed run with another sigma.
accountant = RDPAccountant()
for _ in range(300):
    accountant.step(noise_multiplier=1.1, sample_rate=0.01)
for _ in range(200):
    accountant.step(noise_multiplier=0.9, sample_rate=0.02)
phases = {"history": [list(entry) for entry in accountant.history], "delta": 1e-5, "epsilon": accountant.get_epsilon(delta=1e-5)}

budgets = []
for target_epsilon, delta, q, epochs, steps in [(3.0, 1e-5, 256 / 60000, 40, None), (1.0, 1e-5, 0.01, None, 1000),
                                                (8.0, 1e-6, 0.001, 10, None), (0.5, 1e-5, 0.05, None, 200),
                                                (2.93, 1e-5, 512 / 60000, 40, None)]:
    sigma = get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta, sample_rate=q, epochs=epochs, steps=steps)
    budgets.append({"target_epsilon": target_epsilon, "delta": delta, "sample_rate": q, "epochs": epochs, "steps": steps,
                    "noise_multiplier": sigma})

out = {"opacus": opacus.__version__, "default_orders": RDPAccountant.DEFAULT_ALPHAS, "grid": grid,
       "doctest": {"orders": orders, "epsilon": float(doctest_epsilon), "order": float(doctest_order)},
       "phases": phases, "noise_multipliers": budgets}
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "CortexPrivacyTests", "Fixtures", "rdp_accountant.json")
with open(path, "w") as handle:
    json.dump(out, handle, indent=1)
print(f"wrote {len(grid)} grid points, doctest {doctest_epsilon:.6f} at order {doctest_order}, to {path}")
