"""MCTS-Explore template selection (GPTFuzzer's policy, with the official ICE code's reward scale).

Selection starts at the seed with the best UCT score, then descends to the best child,
stopping early with probability α; every node on the path counts a visit. The update adds
``reward · max(β, 1 − 0.1 · level(last))`` to each node on the path. The reward is
``successes / (questions × new templates)`` in GPTFuzzer, and ``successes / questions²``
in the official ICE code (``paper`` scaling: 50× smaller, so exploration dominates).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field


@dataclass
class Node:
    """One template in the tree: seeds are roots (level 0)."""

    index: int
    parent: int | None = None
    level: int = 0
    visits: int = 0
    reward: float = 0.0
    children: list[int] = field(default_factory=list)


@dataclass
class MctsExplore:
    """The tree and the selection/update arithmetic; all randomness comes from the ``rng`` passed in."""

    n_seeds: int
    ratio: float = 0.5
    alpha: float = 0.1
    beta: float = 0.2
    step: int = 0
    nodes: list[Node] = field(default_factory=list)
    path: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.nodes:
            self.nodes = [Node(i) for i in range(self.n_seeds)]

    def uct(self, node: Node) -> float:
        """R/(v+1) + ratio·√(2·ln(step)/(v+0.01)), with ``step`` the current selection's number."""
        return node.reward / (node.visits + 1) + self.ratio * math.sqrt(2 * math.log(self.step) / (node.visits + 0.01))

    def select(self, rng: random.Random) -> int:
        """The node to mutate next (ties go to the lowest index, as ``max`` does in the official code)."""
        self.step += 1
        current = max(self.nodes[: self.n_seeds], key=self.uct)
        self.path = [current.index]
        while current.children and rng.random() >= self.alpha:
            current = max((self.nodes[i] for i in current.children), key=self.uct)
            self.path.append(current.index)
        for i in self.path:
            self.nodes[i].visits += 1
        return current.index

    def add_child(self, parent: int) -> int:
        """A new node below ``parent``; returns its index."""
        node = Node(len(self.nodes), parent, self.nodes[parent].level + 1)
        self.nodes.append(node)
        self.nodes[parent].children.append(node.index)
        return node.index

    def update(self, successes: int, n_questions: int, *, n_new: int = 1, paper_scale: bool = False) -> float:
        """Credit the last selection path; returns the reward before the level factor."""
        reward = successes / (n_questions * (n_questions if paper_scale else n_new))
        last = self.nodes[self.path[-1]]
        factor = max(self.beta, 1 - 0.1 * last.level)
        for i in reversed(self.path):
            self.nodes[i].reward += reward * factor
        return reward
