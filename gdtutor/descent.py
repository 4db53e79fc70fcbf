r"""The one gradient-descent loop every part uses.

:func:`descend` minimises a loss closure over some tensors with any :mod:`torch.optim` optimizer,
records the loss history, stops on a tolerance or a step budget, and turns a diverging run into a
clear :class:`DivergenceError` instead of silent NaNs.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from gdtutor._methods import _TABLES
from gdtutor._validation import check_count, check_flag, check_function

#: What :func:`descend` accepts as ``optimizer``: a name (``"sgd"``, ``"adam"``, ``"lbfgs"``, ...),
#: an optimizer class, or a ready instance built on the same parameters.
OptimizerSpec = str | type[Optimizer] | Optimizer
#: Builds a learning-rate scheduler for the optimizer, e.g.
#: ``lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000)``.
SchedulerFactory = Callable[[Optimizer], torch.optim.lr_scheduler.LRScheduler]

_OPTIMIZERS: dict[str, type[Optimizer]] = {
    name.lower(): cls
    for name, cls in vars(torch.optim).items()
    if isinstance(cls, type) and issubclass(cls, Optimizer) and cls is not Optimizer
}


class DivergenceError(RuntimeError):
    """Raised when the loss becomes NaN/Inf or explodes: almost always a step size too large.

    Attributes
    ----------
    step
        The step at which divergence was detected.
    loss
        The offending loss value.
    safe_lr
        A learning rate known to be stable for this problem, when the caller could compute one.
    """

    def __init__(self, message: str, *, step: int, loss: float, safe_lr: float | None) -> None:
        super().__init__(message)
        self.step = step
        self.loss = loss
        self.safe_lr = safe_lr


@dataclass(frozen=True)
class DescentResult:
    """The outcome of :func:`descend`, in the spirit of :class:`scipy.optimize.OptimizeResult`.

    Attributes
    ----------
    params
        The final values of the parameters (detached copies).
    losses
        ``losses[k]`` is the loss at the ``k``-th iterate (``losses[0]`` at the start), float64.
    steps
        The number of optimizer steps taken.
    evaluations
        How many times the loss was evaluated. Equal to ``steps + 1`` except for optimizers that
        search along a line, such as L-BFGS.
    gradients
        How many times its gradient was computed (back-propagated): ``steps`` except for
        optimizers that search along a line. With ``evaluations`` it counts all the work.
    work
        ``work[k]`` is the evaluations plus gradients done when ``losses[k]`` was recorded
        (int64): the x-axis on which optimizers that search along a line compare fairly.
    converged
        Whether the tolerance was reached.
    reason
        Why the loop stopped, in words.
    metrics
        Each requested metric's history, recorded alongside ``losses``: float64, of shape
        ``(steps + 1, *shape)`` for a metric whose values have that shape.
    """

    params: tuple[Tensor, ...]
    losses: Tensor
    steps: int
    evaluations: int
    gradients: int
    converged: bool
    reason: str
    work: Tensor
    metrics: Mapping[str, Tensor] = field(default_factory=dict)


def optimizer_class(spec: str | type[Optimizer]) -> type[Optimizer]:
    """The :mod:`torch.optim` class named by ``spec`` (a case-insensitive name, or the class)."""
    if isinstance(spec, str):
        try:
            return _OPTIMIZERS[spec.lower()]
        except KeyError:
            raise ValueError(
                f"unknown optimizer {spec!r}; choose one of {sorted(_OPTIMIZERS)}."
            ) from None
    if not (isinstance(spec, type) and issubclass(spec, Optimizer)):
        raise TypeError(
            f"optimizer must be a name, a torch.optim.Optimizer class or instance; got {spec!r}."
        )
    return spec


def make_optimizer(spec: OptimizerSpec, params: list[Tensor], **kwargs: Any) -> Optimizer:
    """Build a :mod:`torch.optim` optimizer from a name, a class or an instance.

    Parameters
    ----------
    spec
        A case-insensitive name of a :mod:`torch.optim` class (``"sgd"``, ``"adam"``, ``"lbfgs"``),
        the class itself, or an instance (returned as it is; ``kwargs`` must then be empty).
    params
        The tensors to optimise.
    **kwargs
        Passed to the optimizer's constructor (``lr``, ``momentum``, ...).

    Raises
    ------
    TypeError
        For an option the optimizer does not take, naming the ones it does.
    """
    if isinstance(spec, Optimizer):
        if kwargs:
            raise TypeError(
                f"optimizer options {sorted(kwargs)} cannot be applied to a ready optimizer instance."
            )
        return spec
    cls = optimizer_class(spec)
    accepted = [name for name in inspect.signature(cls).parameters if name != "params"]
    foreign = sorted(set(kwargs) - set(accepted))
    if foreign:
        raise TypeError(
            f"{cls.__name__} does not take {', '.join(foreign)}; its options are {', '.join(accepted)}."
        )
    return cls(params, **kwargs)


def descend(
    loss_fn: Callable[[], Tensor],
    params: Iterable[Tensor],
    optimizer: OptimizerSpec = "sgd",
    *,
    max_steps: int = 1000,
    tol: float | None = None,
    scheduler: SchedulerFactory | None = None,
    metrics: Mapping[str, Callable[[], float | Tensor]] | None = None,
    stop: Callable[[], str | None] | None = None,
    blowup: float = 1e6,
    safe_lr: Callable[[], float] | None = None,
    progress: bool = False,
    **optimizer_options: Any,
) -> DescentResult:
    r"""Minimise ``loss_fn()`` over ``params`` by gradient descent with a torch optimizer.

    At each iterate :math:`x_k` the loop evaluates the loss :math:`f(x_k)`, records it, stops if
    :math:`f(x_k) \le` ``tol``, and otherwise takes one optimizer step.

    Parameters
    ----------
    loss_fn
        A closure that computes a scalar loss from the current ``params``.
    params
        The leaf tensors to optimise (``requires_grad`` is set on them); updated in place.
    optimizer
        A name, class or instance (see :func:`~gdtutor.descent.make_optimizer`); ``optimizer_options`` such as
        ``lr`` and ``momentum`` go to its constructor.
    max_steps
        The step budget.
    tol
        Stop as soon as the loss is at most ``tol`` (never, if ``None``).
    scheduler
        Builds a learning-rate scheduler, stepped once per iteration.
    metrics
        Named callables evaluated (without gradients) at every iterate, recorded like the loss;
        they may return numbers or tensors (e.g. one loss per matrix of a batch).
    stop
        A convergence test evaluated at every iterate after the tolerance: it returns ``None`` to
        go on, or the reason to stop (e.g. "gradient norm below 1e-12"), which counts as converged.
    blowup
        Divergence is declared when the loss exceeds ``blowup`` times its initial value
        (or becomes NaN/Inf).
    safe_lr
        Computes a learning rate that is stable for this problem, quoted in the divergence error.
        Called only if the run diverges.
    progress
        Show a progress bar (needs ``tqdm``); off by default and in the docs.

    Returns
    -------
    DescentResult

    Raises
    ------
    DivergenceError
        If the loss becomes NaN/Inf or grows by more than ``blowup``.

    Notes
    -----
    Optimizers that need a closure (:class:`torch.optim.LBFGS`) are stepped with one; for them
    one "step" is one call of ``optimizer.step``, which may evaluate the loss several times.
    """
    check_count("max_steps", max_steps)
    check_flag("progress", progress)
    check_function("scheduler", scheduler)
    tensors = [p.requires_grad_(True) for p in params]
    opt = make_optimizer(optimizer, tensors, **optimizer_options)
    lr_schedule = scheduler(opt) if scheduler is not None else None
    needs_closure = isinstance(opt, torch.optim.LBFGS)
    recorders = dict(metrics or {})
    losses: list[float] = []
    work: list[int] = []
    recorded: dict[str, list[Tensor]] = {name: [] for name in recorders}
    evaluations = gradients = 0

    def evaluate() -> Tensor:
        nonlocal evaluations
        evaluations += 1
        return loss_fn()

    def closure() -> Tensor:
        nonlocal gradients
        opt.zero_grad(set_to_none=True)
        loss = evaluate()
        loss.backward()
        gradients += 1
        return loss

    bar = _progress_bar(max_steps) if progress else None
    converged, reason, steps = False, f"reached max_steps={max_steps}", max_steps
    for step in range(max_steps + 1):
        if needs_closure:
            with torch.no_grad():
                loss = evaluate()
        else:
            opt.zero_grad(set_to_none=True)
            loss = evaluate()
        value = loss.item()
        losses.append(value)
        work.append(evaluations + gradients)
        _record(recorders, recorded)
        if step == 0:
            limit = blowup * max(value, torch.finfo(torch.float64).tiny)
        if not value <= limit:  # also true for NaN
            raise _divergence(value, losses[0], step, opt, safe_lr)
        if tol is not None and value <= tol:
            converged, reason, steps = True, f"loss {value:.3g} <= tol {tol:.3g}", step
            break
        if stop is not None and (why := stop()) is not None:
            converged, reason, steps = True, why, step
            break
        if step == max_steps:
            break
        if needs_closure:
            opt.step(closure)
        else:
            loss.backward()
            gradients += 1
            opt.step()
        if lr_schedule is not None:
            lr_schedule.step()
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return DescentResult(
        params=tuple(p.detach().clone() for p in tensors),
        losses=torch.tensor(losses, dtype=torch.float64),
        steps=steps,
        evaluations=evaluations,
        gradients=gradients,
        converged=converged,
        reason=reason,
        work=torch.tensor(work, dtype=torch.int64),
        metrics={
            name: torch.stack(values).to(device="cpu", dtype=torch.float64)
            for name, values in recorded.items()
        },
    )


def _record(
    recorders: Mapping[str, Callable[[], float | Tensor]], recorded: dict[str, list[Tensor]]
) -> None:
    """Append each recorder's value now (without autograd) to its list."""
    with torch.no_grad():
        for name, recorder in recorders.items():
            value = recorder()
            recorded[name].append(
                value.detach().clone()
                if isinstance(value, Tensor)
                else torch.tensor(value, dtype=torch.float64)
            )


def method_optimizer(
    entry: str, optimizer: OptimizerSpec, params: list[Tensor], **options: Any
) -> Optimizer:
    """The torch optimizer of ``entry(method="optimizer")``, built before any step.

    The method makes its own parameters, so an optimizer instance is refused; a name or class
    is built on ``params`` with ``options``, and an option the class does not take is reported
    with the method's own options.
    """
    if isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{entry}(method='optimizer') builds the optimizer on its own parameters: give a name "
            "or an optimizer class, and its options as keywords."
        )
    try:
        return make_optimizer(optimizer_class(optimizer), params, **options)
    except TypeError as error:  # an option the class does not take
        raise TypeError(
            f"{entry}(method='optimizer') with {error} "
            f"The method's own options are {_TABLES[entry].describe('optimizer')}."
        ) from None


def how_the_loss_diverged(value: float, initial: float) -> str:
    """How a diverging loss went wrong, in words, for :class:`DivergenceError` messages."""
    return (
        "became NaN/Inf" if not math.isfinite(value) else f"grew from {initial:.3g} to {value:.3g}"
    )


def _divergence(
    value: float, initial: float, step: int, opt: Optimizer, safe_lr: Callable[[], float] | None
) -> DivergenceError:
    lr = opt.param_groups[0].get("lr")
    what = how_the_loss_diverged(value, initial)
    message = f"the loss {what} at step {step}: the step size (lr={lr}) is probably too large"
    stable = safe_lr() if safe_lr is not None else None
    message += (
        f"; for this problem lr < {stable:.3g} is stable."
        if stable is not None
        else "; try a smaller lr."
    )
    return DivergenceError(message, step=step, loss=value, safe_lr=stable)


def _progress_bar(total: int) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError as error:
        raise ImportError("progress=True needs tqdm: python -m pip install tqdm") from error
    return tqdm(total=total, desc="descent", unit="step")
