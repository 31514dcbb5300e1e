"""The arrays of one batch of runs (one problem, one optimizer family, shared budget, recording
and targets) as the compiled drivers take them. Shared by every engine (CPU and CUDA);
``runner/engines/outputs.py`` turns them back into table columns."""
from __future__ import annotations

import numpy as np

from optbench.kernels.slots import SC_SEED
from optbench.optimizers.base import N_SCALARS
from optbench.optimizers.schedules import N_SCHED
from optbench.record.targets import record_steps

from . import loop as L

# the driver argument order (after the kernels)
ARG_NAMES = ("X", "G", "ST", "SC", "HY", "data", "idata", "seeds", "CTL", "skinds", "SP",
             "nsteps", "xstar", "ftg", "gtg", "rec", "HITF", "HITG", "TRACE", "MET", "OUT", "IOUT")
PER_RUN = ("X", "G", "ST", "SC", "HY", "seeds", "CTL", "skinds", "SP", "nsteps", "HITF", "HITG",
           "TRACE", "MET", "OUT", "IOUT")
STOP_MODE = {"budget": 0.0, "target": 1.0, "gtol": 2.0}


def zero_step(a: dict, per_run) -> dict:
    """A one-run, zero-step copy of a batch's arrays (``per_run``: the names with one row per
    run): the warm-up call's arguments, so that the timed call finds its code loaded."""
    out = {k: (v[:1].copy() if k in per_run else v) for k, v in a.items()}
    out["nsteps"] = np.zeros(1, np.int64)
    return out


def record_array(spec) -> np.ndarray:
    rec = spec.record
    if rec.startswith("list:"):
        rec = [int(s) for s in rec[5:].split(",") if s]
    return record_steps(spec.steps, rec)


class Batch:
    """Build every per-run array of a batch from its specs (validated already)."""

    def __init__(self, specs, prob=None, opts=None):
        s0 = specs[0]
        self.specs = specs
        self.prob = prob if prob is not None else s0.build_problem()
        self.opts = opts if opts is not None else [s.build_optimizer() for s in specs]
        prob, opts = self.prob, self.opts
        R, d = len(specs), prob.dim
        by_id = dict(zip(map(id, opts), opts))
        distinct = by_id.values()
        # state rows: one size per batch (Shampoo's and SOAP's follow the blocks' shapes)
        blk = prob.blocks()
        ns = max(1, max(o.state_rows(blk) for o in distinct))
        hys = {k: o.hyper_array() for k, o in by_id.items()}
        # np.full, not np.zeros: calloc'd pages are mapped lazily, and a hot loop over
        # never-written pages runs ~100x slower until they are touched (measured at d = 1e5)
        a = {"X": np.empty((R, d)), "G": np.full((R, d), 0.0), "ST": np.full((R, ns, d), 0.0),
             "SC": np.zeros((R, N_SCALARS)), "HY": np.zeros((R, max(len(h) for h in hys.values()))),
             "data": prob.data, "idata": prob.idata,
             "seeds": np.array([s.seed for s in specs], np.int64),
             "CTL": np.zeros((R, L.N_CTL)), "skinds": np.zeros(R, np.int64),
             "SP": np.zeros((R, N_SCHED)), "nsteps": np.array([s.steps for s in specs], np.int64)}
        fstar = prob.f_star
        # a sweep's runs share few starts and few (optimizer, budget, stop rule) settings:
        # each is built once, and each array gets its rows by one NumPy take of the
        # settings' rows (not one assignment per setting and array: 64 settings x 6 arrays
        # were half of a 4,096-run sweep's set-up)
        given = [r for r, s in enumerate(specs) if s.x0 is not None]
        for r in given:
            a["X"][r] = np.asarray(specs[r].x0)
        drawn = np.ones(R, bool)
        drawn[given] = False
        if drawn.any():
            seeds, inv = np.unique(a["seeds"][drawn], return_inverse=True)
            a["X"][drawn] = np.stack([prob.x0(int(seed)) for seed in seeds])[inv]
        index: dict = {}
        code = np.array([index.setdefault((id(o), s.steps, s.stop, s.gtol), len(index))
                         for s, o in zip(specs, opts)], np.int64)
        C = len(index)
        rows = {k: np.zeros((C, *a[k].shape[1:]), a[k].dtype)
                for k in ("ST", "SC", "skinds", "SP", "HY", "CTL")}
        for (oid, steps, stop_rule, gtol), c in index.items():
            o = by_id[oid]
            st, sc, skind, sp = (*o.init_state(d), *o.schedule.arrays(steps))
            rows["ST"][c, :st.shape[0]], rows["SC"][c], rows["skinds"][c], rows["SP"][c] = \
                st, sc, skind, sp
            h = hys[oid]
            rows["HY"][c, :len(h)] = h
            wd, dwd = o.weight_decay
            stop = STOP_MODE[stop_rule]
            if stop_rule == "target" and fstar is None:
                stop = STOP_MODE["gtol"]
            rows["CTL"][c] = [wd, dwd, o.clip_norm or 0.0, o.clip_value or 0.0,
                              np.nan if fstar is None else fstar, 1e8, gtol,
                              1.0 if prob.stochastic else 0.0, stop, o.lr,
                              1.0 if getattr(o, "maximize", False) else 0.0]
        for k, v in rows.items():
            if C == 1:
                a[k][:] = v[0]
            else:
                np.take(v, code, axis=0, out=a[k], mode="clip")   # (codes < C)
        a["SC"][:, SC_SEED] = a["seeds"] % 2**52     # probes draw from it (kernels/probes.py)
        self.x0s = a["X"].copy()
        xs = prob.x_star
        a["xstar"] = np.zeros(0) if xs is None else np.ascontiguousarray(xs, dtype=np.float64)
        a["ftg"] = np.array(s0.targets, dtype=np.float64)
        a["gtg"] = a["ftg"].copy()
        a["rec"] = record_array(s0)
        nrec_max = a["rec"].size + 1
        a["HITF"] = np.zeros((R, a["ftg"].size), np.int64)
        a["HITG"] = np.zeros((R, a["gtg"].size), np.int64)
        a["TRACE"] = np.zeros((R, nrec_max, L.N_TRACE))
        self.metric_names = prob.metric_names()
        a["MET"] = np.zeros((R, nrec_max, len(self.metric_names)))
        a["OUT"] = np.zeros((R, L.N_OUT))
        a["IOUT"] = np.zeros((R, L.N_IOUT), np.int64)
        self.a = a

    def __len__(self):
        return len(self.specs)

    def args(self) -> list:
        return [self.a[k] for k in ARG_NAMES]

    def warmup_args(self) -> list:
        """A one-run, zero-step copy of the arguments (to load machine code before timing)."""
        w = zero_step(self.a, PER_RUN)
        return [w[k] for k in ARG_NAMES]
