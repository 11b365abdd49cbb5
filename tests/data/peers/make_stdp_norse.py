"""Write ``stdp_norse.npz``: what Norse 1.1.0 (``stdp_step_linear``) and snnTorch 1.0.0
(``stdp_linear_single_step``) compute on seeded spike trains, for ``tests/test_plasticity.py``.

Run in the peers environment, never the project's::

    benchmarks/.venv-peers/bin/python tests/data/peers/make_stdp_norse.py tests/data/peers

Keys are ``<case>__<name>``: ``pre`` ``(T, B, n_pre)`` and ``post`` ``(T, B, n_post)`` the spikes
given to the peer (time-major), ``w0`` the initial weights and ``w`` (Norse) or ``dw`` (snnTorch)
after each step, stacked on time, in the peer's own layout ``(n_post, n_pre)``. ``meta`` is a JSON
string with each case's parameters and the versions. The peers' own functions compute everything;
nothing here re-implements a rule.
"""

import json
import sys
from pathlib import Path

import norse
import numpy as np
import snntorch
import torch
from norse.torch.functional.stdp import STDPParameters, STDPState, stdp_step_linear
from snntorch.functional.stdp_learner import stdp_linear_single_step

SEED, T, B, N_PRE, N_POST = 5, 40, 3, 6, 4
out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
rng = np.random.default_rng(SEED)
arrays: dict[str, np.ndarray] = {}
meta: dict = {
    "versions": {"snntorch": snntorch.__version__, "norse": norse.__version__, "torch": torch.__version__},
    "seed": SEED,
}


def save(case: str, **values) -> None:
    for name, value in values.items():
        arrays[f"{case}__{name}"] = np.asarray(value, np.float32)


def trains(p_pre: float, p_post: float, interleave: bool = False):
    pre = (rng.random((T, B, N_PRE)) < p_pre).astype(np.float32)
    post = (rng.random((T, B, N_POST)) < p_post).astype(np.float32)
    if interleave:  # pre only at even steps, post only at odd ones: no same-step pair
        pre[1::2] = 0.0
        post[0::2] = 0.0
    return pre, post


def norse_case(case: str, algorithm: str, pre, post, *, dt, tau_pre_inv, tau_post_inv, eta_plus, eta_minus):
    # a_pre = 1 / (dt * tau_inv): a spike adds exactly 1 to Norse's trace
    params = STDPParameters(
        a_pre=torch.tensor(1.0 / (dt * tau_pre_inv)), a_post=torch.tensor(1.0 / (dt * tau_post_inv)),
        tau_pre_inv=torch.tensor(tau_pre_inv), tau_post_inv=torch.tensor(tau_post_inv),
        w_min=0.0, w_max=1.0, eta_plus=eta_plus, eta_minus=eta_minus,
        stdp_algorithm=algorithm, hardbound=False,
    )  # fmt: skip
    w0 = rng.uniform(0.3, 0.7, (N_POST, N_PRE)).astype(np.float32)
    w = torch.tensor(w0)
    state = STDPState(t_pre=torch.zeros(B, N_PRE), t_post=torch.zeros(B, N_POST))
    ws = []
    for t in range(T):
        w, state = stdp_step_linear(torch.tensor(pre[t]), torch.tensor(post[t]), w, state, params, dt=dt)
        ws.append(w.clone())
    save(case, pre=pre, post=post, w0=w0, w=torch.stack(ws).numpy())
    meta[case] = {
        "peer": "norse.torch.functional.stdp.stdp_step_linear", "stdp_algorithm": algorithm, "dt": dt,
        "tau_pre_inv": tau_pre_inv, "tau_post_inv": tau_post_inv, "eta_plus": eta_plus,
        "eta_minus": eta_minus, "w_min": 0.0, "w_max": 1.0, "hardbound": False,
    }  # fmt: skip


# -- Norse, additive: random trains (same-step pairs included) -----------------------------------
pre, post = trains(0.3, 0.25)
norse_case("norse_additive", "additive", pre, post, dt=1e-3, tau_pre_inv=200.0, tau_post_inv=300.0,
           eta_plus=0.01, eta_minus=0.015)  # fmt: skip
# -- Norse, multiplicative (soft bounds), weights updated every step; no same-step pair ---------
pre, post = trains(0.5, 0.5, interleave=True)
norse_case("norse_multiplicative", "multiplicative_relu", pre, post, dt=1e-3, tau_pre_inv=250.0,
           tau_post_inv=150.0, eta_plus=0.02, eta_minus=0.03)  # fmt: skip

# -- snnTorch functional step: constant weight functions (the amplitudes) -------------------------
pre, post = trains(0.3, 0.3)
tau_pre, tau_post, a_plus, a_minus = 4.0, 2.5, 0.02, 0.01
fc = torch.nn.Linear(N_PRE, N_POST, bias=False)
trace_pre = trace_post = None
dws = []
with torch.no_grad():
    for t in range(T):
        trace_pre, trace_post, dw = stdp_linear_single_step(
            fc, torch.tensor(pre[t]), torch.tensor(post[t]), trace_pre, trace_post, tau_pre, tau_post,
            f_pre=lambda w: a_minus * torch.ones_like(w), f_post=lambda w: a_plus * torch.ones_like(w),
        )  # fmt: skip
        dws.append(dw.clone())
save("snntorch_additive", pre=pre, post=post, dw=torch.stack(dws).numpy())
meta["snntorch_additive"] = {
    "peer": "snntorch.functional.stdp_learner.stdp_linear_single_step", "tau_pre": tau_pre,
    "tau_post": tau_post, "f_post": a_plus, "f_pre": a_minus,
}  # fmt: skip

np.savez_compressed(out_dir / "stdp_norse.npz", meta=json.dumps(meta), **arrays)
print(f"wrote {out_dir / 'stdp_norse.npz'}: {sorted(arrays)}")
