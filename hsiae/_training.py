"""How :class:`hsiae.AEDEncoder` trains: epochs of a bounded size, a bounded hold-out, data-parallel steps.

The cost of a fit is set by the number of spectra it draws, not by the
number of pixels: an epoch draws at most ``epoch_size`` spectra (consecutive
slices of one random permutation of the training rows, so every row is
drawn once before any is drawn again) and the validation loss is taken on at
most ``validation_fraction * epoch_size`` held-out spectra.

A training batch is cut into shards of at most :data:`SHARD_SIZE` spectra.
Each shard runs forward and backward on its own replica of the network (the
replicas share the parameters, not the BatchNorm statistics), the shards'
gradients are summed in a fixed order and one optimizer step follows. On the
CPU the shards are shared among worker threads of one torch thread each:
torch's own threads spend most of a step of this small network waiting for
each other, and wait far longer when another program holds a core. The
arithmetic of a shard does not depend on which thread runs it, so a fit gives
the same result, bit for bit, on any number of threads.
"""

import contextlib
import copy
import logging
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import Subset

from hsiae.exceptions import Param, ParameterError

__all__ = [
    "Adam",
    "SHARD_SIZE",
    "SliceIterator",
    "HoldOut",
    "n_holdout",
    "ShardedSteps",
    "ShardedNet",
    "EpochProgress",
    "one_torch_thread",
    "worker_count",
    "still_improving",
    "check_device",
    "weight_mismatch",
    "NetworkStateMixin",
]

# Spectra per shard of a training batch: the BatchNorm batch of each replica.
SHARD_SIZE = 256
# Seconds between progress lines in a log (when standard error is not a terminal).
LOG_INTERVAL = 10.0

logger = logging.getLogger("hsiae.encoder")


class Adam(torch.optim.Optimizer):
    """Adam over all trainable parameters at once: torch's ``Adam`` with its defaults, in one flat buffer.

    The update is Kingma and Ba's, with bias correction, as ``torch.optim.Adam``
    computes it without weight decay or AMSGrad. It exists because creating a
    torch optimizer imports ``torch._dynamo``, which costs every process
    that trains seconds and tens of MiB, and because one
    flat update is faster than torch's loop over the parameters. Parameters
    without a gradient in a step are treated as having a zero gradient.

    It offers what skorch uses of an optimizer: ``param_groups`` (one
    group; its ``lr`` may be changed between steps), ``zero_grad``,
    ``step(closure)``, ``state_dict`` and ``load_state_dict``. It derives
    from ``torch.optim.Optimizer`` only because skorch recognises an
    optimizer by that type; ``Optimizer.__init__``, which imports
    ``torch._dynamo``, is not called, and none of its other methods is used.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):  # noqa: D107 (no super().__init__: see the class docstring)
        params = list(params)
        if params and isinstance(params[0], dict):  # skorch passes one parameter group
            params = [p for group in params for p in group["params"]]
        params = [p for p in params if p.requires_grad]
        if not params:
            raise ValueError("Adam got no trainable parameters.")
        self.defaults = {"lr": lr, "betas": tuple(betas), "eps": eps}
        self.param_groups = [{"params": params, **self.defaults}]
        n = sum(p.numel() for p in params)
        self.state = {
            "step": 0,
            "exp_avg": params[0].new_zeros(n),
            "exp_avg_sq": params[0].new_zeros(n),
        }

    def zero_grad(self, set_to_none=True):
        for p in self.param_groups[0]["params"]:
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.zero_()

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        group, state = self.param_groups[0], self.state
        params = group["params"]
        grad = torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).reshape(-1) for p in params])
        beta1, beta2 = group["betas"]
        state["step"] += 1
        t = state["step"]
        state["exp_avg"].lerp_(grad, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2**t)).add_(group["eps"])
        update = (state["exp_avg"] / denom).mul_(group["lr"] / (1 - beta1**t))
        start = 0
        for p in params:
            p.sub_(update[start : start + p.numel()].view_as(p))
            start += p.numel()
        return loss

    def __getstate__(self):
        return dict(self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        return f"hsiae Adam ({', '.join(f'{k}={v}' for k, v in self.param_groups[0].items() if k != 'params')})"

    def state_dict(self):
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        state = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in self.state.items()}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict):
        self.param_groups[0].update(state_dict["param_groups"][0])
        for k, v in state_dict["state"].items():
            self.state[k] = v.clone().to(self.state[k].device) if torch.is_tensor(v) else v


def worker_count(device, n_tasks):
    """Worker threads for ``n_tasks`` independent pieces of work: torch's thread count on the CPU, one on a GPU."""
    if torch.device(device).type != "cpu":
        return 1
    return max(1, min(torch.get_num_threads(), n_tasks))


@contextlib.contextmanager
def one_torch_thread():
    """Run this thread's torch operations on one intra-op thread; restore the count afterwards.

    ``torch.set_num_threads`` sets the calling thread's OpenMP team size (and
    torch's default for threads it starts later), so a worker thread asking
    for one does not change the caller's.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def dataset_rows(dataset):
    """The tensor under a (possibly nested) ``Subset`` of a skorch ``Dataset``, and the subset's rows.

    The rows are an index (None for the whole tensor), not a copy: a copy of
    the training split would double the memory the spectra take.
    """
    indices = None
    while isinstance(dataset, Subset):
        idx = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
        indices = idx if indices is None else idx[indices]
        dataset = dataset.dataset
    return torch.as_tensor(dataset.X), indices


class SliceIterator:
    """Mini-batches cut from one pre-built tensor.

    skorch's default ``DataLoader`` indexes and collates one sample at a time,
    which dominates the cost of a small network. Slicing a tensor gives the
    same batches at a fraction of the overhead. A last batch of a single
    spectrum is merged into the one before, since BatchNorm cannot train on it.

    With ``shuffle``, an epoch is the next ``epoch_size`` rows of a random
    permutation of all rows (a new permutation when one is used up), so
    every row is drawn once before any row is drawn twice; ``epoch_size=None``
    makes every epoch one pass over all rows.
    """

    def __init__(self, dataset, batch_size=256, shuffle=False, epoch_size=None):
        self.X, self.rows = dataset_rows(dataset)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.epoch_size = epoch_size
        self._order, self._used = None, 0

    def _n(self):
        return len(self.X) if self.rows is None else len(self.rows)

    def _n_epoch(self):
        n = self._n()
        return n if not self.shuffle or self.epoch_size is None else min(n, int(self.epoch_size))

    def _bounds(self):
        n = self._n_epoch()
        starts = list(range(0, n, self.batch_size))
        if len(starts) > 1 and n - starts[-1] == 1:
            starts.pop()
        return list(zip(starts, starts[1:] + [n]))

    def __len__(self):
        return len(self._bounds())

    def _epoch_order(self):
        """The rows of the next epoch (positions into the training rows), drawn without repeats."""
        n, want, parts = self._n(), self._n_epoch(), []
        while want:
            if self._order is None or self._used == n:
                # torch's global generator: seeded by AEDEncoder.fit inside fork_rng
                self._order, self._used = torch.randperm(n), 0
            take = min(want, n - self._used)
            parts.append(self._order[self._used : self._used + take])
            self._used += take
            want -= take
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def __iter__(self):
        order = self._epoch_order() if self.shuffle else None
        for start, stop in self._bounds():
            if order is None and self.rows is None:
                yield self.X[start:stop], None
                continue
            rows = order[start:stop] if order is not None else None
            if self.rows is not None:
                rows = self.rows[start:stop] if rows is None else self.rows[rows]
            yield self.X.index_select(0, rows), None


def n_holdout(n_samples, validation_fraction, epoch_size):
    """Spectra held out for validation: ``validation_fraction`` of the pixels, or of ``epoch_size`` if fewer."""
    if validation_fraction <= 0:
        return 0
    base = n_samples if epoch_size is None else min(n_samples, int(epoch_size))
    return int(math.ceil(validation_fraction * base))


class HoldOut:
    """skorch ``train_split``: a random hold-out of :func:`n_holdout` rows, the rest for training."""

    def __init__(self, validation_fraction, epoch_size, seed):
        self.validation_fraction = validation_fraction
        self.epoch_size = epoch_size
        self.seed = seed

    def __call__(self, dataset, y=None, **fit_params):
        n = len(dataset)
        n_valid = n_holdout(n, self.validation_fraction, self.epoch_size)
        rng = np.random.default_rng(self.seed)
        valid = np.sort(rng.choice(n, size=n_valid, replace=False))
        train = np.ones(n, dtype=bool)
        train[valid] = False
        return Subset(dataset, np.flatnonzero(train)), Subset(dataset, valid)


def _replica(module):
    """A copy of ``module`` that shares its parameters (the same tensors) but has its own buffers."""
    replica = copy.deepcopy(module)
    for mine, theirs in zip(replica.modules(), module.modules()):
        for name, param in theirs._parameters.items():
            mine._parameters[name] = param
    return replica.train()


class ShardedSteps:
    """Computes the loss and gradients of a training batch shard by shard, on replicas in worker threads.

    Parameters
    ----------
    module : torch.nn.Module
        The network being trained; its ``.grad`` and BatchNorm running
        statistics are set by :meth:`step`.
    loss : callable
        ``loss(decoded, encoded, x)``: the mean loss of one shard.
    n_workers : int
        Threads (on the CPU) among which the shards of a batch are shared.
    """

    def __init__(self, module, loss, n_workers):
        self.module = module
        self.loss = loss
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.replicas = [_replica(module) for _ in range(n_workers)]
        self._norms = [
            [m for m in r.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
            for r in [module, *self.replicas]
        ]
        self.pool = ThreadPoolExecutor(n_workers, thread_name_prefix="hsiae-training") if n_workers > 1 else None

    def close(self):
        if self.pool is not None:
            self.pool.shutdown()
        self.replicas = []

    def _run(self, w, shards, n):
        """Shards ``w, w + n_workers, ...`` on replica ``w``: (index, weighted loss, gradients, statistics)."""
        replica, norms, out = self.replicas[w], self._norms[w + 1], []
        with one_torch_thread():
            for i in range(w, len(shards), len(self.replicas)):
                x = shards[i]
                with torch.no_grad():
                    for mine, theirs in zip(replica.buffers(), self.module.buffers()):
                        mine.copy_(theirs)
                decoded, encoded = replica(x)
                loss = self.loss(decoded, encoded, x) * (len(x) / n)
                grads = (
                    torch.autograd.grad(loss, self.params, allow_unused=True)
                    if loss.requires_grad
                    else (None,) * len(self.params)
                )
                stats = [(m.running_mean.clone(), m.running_var.clone()) for m in norms]
                out.append((i, loss.detach(), grads, stats))
        return out

    def step(self, x):
        """Set the gradients of ``x``'s mean loss; update the running statistics; return the loss."""
        shards = x.tensor_split(max(1, -(-len(x) // SHARD_SIZE)))
        workers = range(min(len(self.replicas), len(shards)))
        if self.pool is None or len(workers) == 1:
            results = [r for w in workers for r in self._run(w, shards, len(x))]
        else:
            futures = [self.pool.submit(self._run, w, shards, len(x)) for w in workers]
            results = [r for f in futures for r in f.result()]
        results.sort(key=lambda r: r[0])  # sums in shard order: the same on any number of threads
        loss = results[0][1]
        grads = list(results[0][2])
        stats = [list(pair) for pair in results[0][3]]
        for _, shard_loss, shard_grads, shard_stats in results[1:]:
            loss = loss + shard_loss
            grads = [a if b is None else (b if a is None else a + b) for a, b in zip(grads, shard_grads)]
            for acc, (mean, var) in zip(stats, shard_stats):
                acc[0] = acc[0] + mean
                acc[1] = acc[1] + var
        for param, grad in zip(self.params, grads):
            param.grad = grad
        with torch.no_grad():
            for norm, (mean, var) in zip(self._norms[0], stats):
                # the average of each shard's update from the same statistics
                norm.running_mean.copy_(mean / len(results))
                norm.running_var.copy_(var / len(results))
                norm.num_batches_tracked += 1
        return loss


class ShardedNet(NeuralNet):
    """skorch net whose module returns ``(decoded, encoded)``, whose target is its input, trained in shards.

    Each training batch goes through :class:`ShardedSteps`; the loss of a
    shard is ``get_loss((decoded, encoded), None, X=x)``, which subclasses
    override. :meth:`check_training_loss` sees every batch's loss before the
    optimizer step that would write it into the weights (a subclass may
    raise there); :meth:`fit_sharded` trains.
    """

    def check_training_loss(self, value):
        """Called with each training batch's loss before the step; does nothing here."""

    def train_step_single(self, batch, **fit_params):
        """The loss and gradients of a batch, computed shard by shard (:class:`ShardedSteps`)."""
        self._set_training(True)
        Xi, _ = unpack_data(batch)
        x = torch.as_tensor(Xi, device=self.device)
        steps = self.__dict__.get("_sharded")
        if steps is None:  # closed by on_train_end, so that nothing of it is pickled
            steps = ShardedSteps(self.module_, self._shard_loss, self.__dict__.get("_n_workers", 1))
            self.__dict__["_sharded"] = steps
        loss = steps.step(x)
        self.check_training_loss(loss.item())  # skorch reads it with .item() anyway
        return {"loss": loss, "y_pred": None}

    def _shard_loss(self, decoded, encoded, x):
        return self.get_loss((decoded, encoded), None, X=x)

    def on_train_end(self, net, **kwargs):
        steps = self.__dict__.pop("_sharded", None)
        if steps is not None:
            steps.close()
        super().on_train_end(net, **kwargs)

    def fit_sharded(self, X, n_workers):
        """``partial_fit(X)`` with each batch's shards shared among ``n_workers`` threads."""
        self.__dict__["_n_workers"] = n_workers
        try:
            return self.partial_fit(X, None)
        finally:
            self.__dict__.pop("_n_workers", None)
            self.on_train_end(self)


def still_improving(valid_loss, patience, tol):
    """The relative fall of the validation loss over the last epochs, if training ended while it still fell.

    Compares the loss of the last epoch with the best loss before the last
    ``patience`` epochs (before the last ``n - 1`` when there are fewer).
    Returns ``(fall, n_epochs)`` when the last loss is below that earlier
    best by more than ``tol`` of it and is the best of the recent epochs
    (within ``tol``), else None: the loss fell by less, rose at the end, or
    a single epoch shows no trend.
    """
    valid_loss = np.asarray(valid_loss, dtype=float)
    window = min(patience, len(valid_loss) - 1)
    if window < 1 or not np.all(np.isfinite(valid_loss)):
        return None
    before, last = np.min(valid_loss[:-window]), valid_loss[-1]
    if before <= 0 or last > np.min(valid_loss[-window:]) * (1 + tol):
        return None
    fall = (before - last) / before
    return (float(fall), window) if fall > tol else None


class EpochProgress(Callback):
    """Training progress: a tqdm bar on a terminal, else a log line every :data:`LOG_INTERVAL` seconds.

    A batch job's log (standard error redirected to a file) shows progress
    without a bar's control characters: the epoch, the losses and the time
    so far, at the first epoch, every ``LOG_INTERVAL`` seconds and at the
    last, on the ``hsiae.encoder`` logger at INFO level.
    """

    def __init__(self, total):
        self.total = total

    def on_train_begin(self, net, **kwargs):
        self.start_ = self.last_ = time.perf_counter()
        self.bar_ = None
        stream = sys.stderr
        if stream is not None and hasattr(stream, "isatty") and stream.isatty():
            from tqdm.auto import tqdm

            self.bar_ = tqdm(total=self.total, desc="training", unit="epoch", leave=False, file=stream)

    def _line(self, net):
        row = net.history[-1]
        text = f"epoch {row['epoch']}/{self.total}: training loss {row['train_loss']:.4g}"
        if "valid_loss" in row:
            valid = net.history[:, "valid_loss"]
            best = int(np.argmin(valid))
            text += f", validation loss {row['valid_loss']:.4g} (best {valid[best]:.4g}, epoch {best + 1})"
        return f"{text}; {time.perf_counter() - self.start_:.0f} s"

    def on_epoch_end(self, net, **kwargs):
        if self.bar_ is not None:
            row = net.history[-1]
            post = {"train": f"{row['train_loss']:.4g}"}
            if "valid_loss" in row:
                post["valid"] = f"{row['valid_loss']:.4g}"
            self.bar_.set_postfix(post, refresh=False)
            self.bar_.update(1)
            return
        now = time.perf_counter()
        if len(net.history) == 1 or now - self.last_ >= LOG_INTERVAL:
            self.last_ = now
            self.logged_ = len(net.history)
            logger.info("%s", self._line(net))

    def on_train_end(self, net, **kwargs):
        if self.bar_ is not None:
            self.bar_.close()
        elif getattr(self, "logged_", None) != len(net.history) and len(net.history):
            logger.info("%s", self._line(net))
        # A tqdm bar holds its output stream, which cannot be pickled with the model.
        for name in ("bar_", "start_", "last_", "logged_"):
            self.__dict__.pop(name, None)


class CosineSchedule(Callback):
    """Learning rate ``lr * (1 + cos(pi * t)) / 2`` at the fraction ``t`` of the budget of spectra drawn so far.

    The budget is ``max_epochs * spectra per epoch``; the first ``warmup``
    of it ramps the rate up linearly from a tenth, which keeps Adam's first
    steps, taken on poor moment estimates, small.
    """

    def __init__(self, lr, budget, warmup=0.05):
        self.lr = lr
        self.budget = budget
        self.warmup = warmup

    def on_train_begin(self, net, **kwargs):
        self.seen_ = 0

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        t = min(1.0, self.seen_ / max(1, self.budget))
        lr = self.lr * 0.5 * (1.0 + math.cos(math.pi * t))
        if self.warmup and t < self.warmup:
            lr *= 0.1 + 0.9 * t / self.warmup
        for group in net.optimizer_.param_groups:
            group["lr"] = lr
        self.seen_ += len(batch[0])

    def on_train_end(self, net, **kwargs):
        self.__dict__.pop("seen_", None)


def check_device(device):
    """Raise a clear error for a ``device`` torch cannot use here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ParameterError(
            "{device} is not a torch device; use 'cpu' or 'cuda'.", device=Param("device", device)
        ) from exc
    cpu = Param("device", "cpu")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(
            "{device} was requested, but torch has no CUDA device here (torch.cuda.is_available() is "
            "False); use {cpu}.",
            device=Param("device", device),
            cpu=cpu,
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ParameterError(
            "{device} was requested, but only {n} CUDA device(s) exist.",
            device=Param("device", device),
            n=torch.cuda.device_count(),
        )
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ParameterError("{device} is not supported; use 'cpu' or 'cuda'.", device=Param("device", device))
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ParameterError(
            "{device} was requested, but MPS is not available; use {cpu}.", device=Param("device", device), cpu=cpu
        )


def weight_mismatch(expected, weights):
    """What keeps ``weights`` from having the ``expected`` shapes (name -> shape), or None.

    The first tensors missing or unexpected, or the first one of another
    shape; the check behind the estimators' ``weight_mismatch``.
    """
    got = {k: tuple(v.shape) for k, v in weights.items()}
    if expected == got:
        return None
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing:
        return f"missing {missing[:3]}"
    if extra:
        return f"unexpected {extra[:3]}"
    wrong = sorted(k for k in expected if expected[k] != got[k])[0]
    return f"{wrong} has shape {got[wrong]}, expected {expected[wrong]}"


class NetworkStateMixin:
    """The network's state of a fitted torch estimator (``net_``, a skorch net): read, check, move.

    What model files need of :class:`~hsiae.AEDEncoder` and
    :class:`~hsiae.AEUnmixer` besides their parameters and fitted
    attributes; each estimator adds ``weight_shapes`` and ``set_weights``,
    which know its network.
    """

    def get_weights(self):
        """The trained network's tensors on the CPU, by name (the torch module's ``state_dict``).

        With ``set_weights``, what a model file needs besides the parameters
        and the fitted attributes.

        Returns
        -------
        weights : dict of str to torch.Tensor
            Copies: changing them leaves the fitted network as it is.
        """
        check_is_fitted(self)
        return {k: v.detach().cpu().clone() for k, v in self.net_.module_.state_dict().items()}

    def weight_mismatch(self, weights):
        """What keeps ``weights`` from fitting this estimator's network, or None when they fit.

        Parameters
        ----------
        weights : dict of str to tensor-like
            Tensors by name, as :meth:`get_weights` returns them.

        Returns
        -------
        mismatch : str or None
            The first tensors missing or unexpected, or the first one whose
            shape differs from ``weight_shapes()``; None when all match.
        """
        return weight_mismatch(self.weight_shapes(), weights)

    def to_cpu(self):
        """Move the fitted network to the CPU and set ``device="cpu"``, so it runs and refits anywhere.

        Returns
        -------
        self
        """
        check_is_fitted(self)
        for name in ("module_", "criterion_"):
            component = getattr(self.net_, name, None)
            if isinstance(component, torch.nn.Module):
                component.to("cpu")
        self.net_.device = "cpu"
        self.device = "cpu"
        return self
