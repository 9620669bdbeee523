"""The ``sharing`` section of a run config (``--sharing``, ``--param-budget``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nas.errors import invalid

__all__ = ["SharingConfig", "GROUPINGS", "ABSOLUTE_BUDGET_ABOVE"]

GROUPINGS = ("learned", "type", "random", "single")
# --param-budget values up to this are fractions of the supernet's natural size; above, counts.
ABSOLUTE_BUDGET_ABOVE = 100.0


@dataclass(frozen=True)
class SharingConfig:
    """How the supernet shares parameters.

    Attributes:
        kind: Registered sharing mode: ``none``, ``npas``, ``ensemble``, ``branching``, ``gm-split``.
        param_budget: NPAS parameter budget: a fraction of the supernet's natural size (``0.25``;
            values up to 100) or an absolute parameter count (an integer above 100). ``None``:
            the natural size.
        groups: NPAS layer-to-group mapping: ``learned`` (warm-up + k-means on coefficients),
            ``type`` (by layer type and shape), ``random`` or ``single`` (one bank).
        num_groups: Number of parameter groups (``None``: the mode's default).
        warmup_epochs: Epochs of a mode's learned pre-phase (NPAS group warm-up, branching tree).
        members: Largest ensemble size K (ensembles search K in ``1..members``).
        shrink: Ensembles: diversity-guided space shrinking during supernet training.
        templates: NPAS: templates cut from a bank per generated weight (coefficients per layer).
        upsample: NPAS: how a bank smaller than a layer is enlarged: ``tile`` or ``interp``.
        budget_choices: NPAS: budget fractions searched as the ``npas.budget`` dimension (a subnet
            uses the leading share of every bank; ascending, ending with 1); empty: a fixed budget.
        split_epochs: GM splits: epochs at whose start the supernet splits (empty: half-way).
        split_labels: GM splits: candidate layers (empty: every unconditional choice).
        gm_batches: GM splits: batches each choice's gradient is averaged over.
        max_subnets: GM splits: largest number of sub-supernets.
        split_rounds: GM splits: rounds at each split epoch, each splitting every sub-supernet once.
        tree_nodes: Branching: nodes per layer of the tree design space, bottom up (e.g. ``[1, 2, 4]``;
            the task heads pick their parents in the last layer).
        tree_epochs: Branching: Gumbel-softmax epochs after the ``warmup_epochs`` (logits frozen).
        tree_width: Branching: channels of every node while the tree is learned.
    """

    kind: str = "none"
    param_budget: float | None = None
    groups: str = "learned"
    num_groups: int | None = None
    warmup_epochs: int = 1
    members: int = 3
    shrink: bool = True
    templates: int = 4
    upsample: str = "tile"
    budget_choices: list[float] = field(default_factory=list)
    split_epochs: list[int] = field(default_factory=list)
    split_labels: list[str] = field(default_factory=list)
    gm_batches: int = 4
    max_subnets: int = 4
    split_rounds: int = 1
    tree_nodes: list[int] = field(default_factory=lambda: [1, 2, 4])
    tree_epochs: int = 3
    tree_width: int = 16

    def __post_init__(self) -> None:
        if not self.kind or not isinstance(self.kind, str):
            raise invalid("sharing.kind", "be a registered sharing mode name", self.kind)
        if self.param_budget is not None:
            b = self.param_budget
            if not b > 0:
                raise invalid("sharing.param_budget", "be positive (a fraction of the natural size, or a count)", b)
            if b > ABSOLUTE_BUDGET_ABOVE and b != int(b):
                raise invalid("sharing.param_budget", f"be a whole parameter count when above {ABSOLUTE_BUDGET_ABOVE:g}", b)
        if self.groups not in GROUPINGS:
            raise invalid("sharing.groups", f"be one of {list(GROUPINGS)}", self.groups)
        if self.num_groups is not None and self.num_groups < 1:
            raise invalid("sharing.num_groups", "be at least 1", self.num_groups)
        if self.warmup_epochs < 0:
            raise invalid("sharing.warmup_epochs", "be >= 0", self.warmup_epochs)
        if not 1 <= self.members <= 8:
            raise invalid("sharing.members", "be in [1, 8]", self.members)
        if any(int(e) < 0 for e in self.split_epochs):
            raise invalid("sharing.split_epochs", "hold epochs >= 0", self.split_epochs)
        if not 1 <= self.gm_batches <= 256:
            raise invalid("sharing.gm_batches", "be in [1, 256]", self.gm_batches)
        if not 2 <= self.max_subnets <= 16:
            raise invalid("sharing.max_subnets", "be in [2, 16]", self.max_subnets)
        if not 1 <= self.split_rounds <= 4:
            raise invalid("sharing.split_rounds", "be in [1, 4]", self.split_rounds)
        if not 1 <= len(self.tree_nodes) <= 6 or any(int(n) < 1 or int(n) > 16 for n in self.tree_nodes):
            raise invalid("sharing.tree_nodes", "list 1 to 6 layers of 1 to 16 nodes each", self.tree_nodes)
        if self.tree_epochs < 0:
            raise invalid("sharing.tree_epochs", "be >= 0", self.tree_epochs)
        if not 4 <= self.tree_width <= 256:
            raise invalid("sharing.tree_width", "be in [4, 256]", self.tree_width)
        if not 1 <= self.templates <= 64:
            raise invalid("sharing.templates", "be in [1, 64]", self.templates)
        if self.upsample not in ("tile", "interp"):
            raise invalid("sharing.upsample", "be one of ['tile', 'interp']", self.upsample)
        if self.budget_choices:
            from nas.sharing.bank_budget import check_choices

            check_choices(self.budget_choices)

    def budget_params(self, natural: int) -> int:
        """The parameter budget as a count, given the supernet's natural parameter count."""
        if self.param_budget is None:
            return int(natural)
        if self.param_budget > ABSOLUTE_BUDGET_ABOVE:
            return int(self.param_budget)
        return max(1, int(round(self.param_budget * natural)))
