"""Finite point groups as 3x3 matrices, and their irreducible representations computed
from the group itself (no typed character tables).

The character table comes from decomposing the regular representation: a random
symmetric matrix that commutes with the representation has eigenspaces that are single
irreducible copies (for real-type irreducible representations, as in every cubic point
group). Characters of those blocks, deduplicated, are the irreducible characters; the
sum of their squared dimensions must equal the group order, which is checked.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

_TOL = 1e-8


def close_group(generators: list[np.ndarray], max_order: int = 240) -> np.ndarray:
    """All products of ``generators`` (3x3 orthogonal matrices): shape (|G|, 3, 3).

    The identity comes first; the order of the rest is deterministic.
    """
    elements = [np.eye(3)]
    frontier = [np.eye(3)]
    gens = [np.asarray(g, float) for g in generators]
    while frontier:
        new = []
        for a in frontier:
            for g in gens:
                c = g @ a
                if not any(np.allclose(c, e, atol=1e-9) for e in elements):
                    elements.append(c)
                    new.append(c)
                    if len(elements) > max_order:
                        raise ValueError("generators do not close into a finite point group")
        frontier = new
    return np.array(elements)


@lru_cache(maxsize=1)
def cubic_group() -> np.ndarray:
    """The 48 operations of m-3m (Oh) as integer-valued 3x3 matrices (identity first)."""
    c4z = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], float)
    c3 = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], float)
    return np.rint(close_group([c4z, c3, -np.eye(3)]))


def find_element(elements: np.ndarray, matrix: np.ndarray) -> int:
    """Index of ``matrix`` in ``elements``; ValueError if it is not there."""
    diff = np.abs(elements - matrix[None]).reshape(len(elements), -1).max(axis=1)
    hits = np.flatnonzero(diff < 1e-6)
    if len(hits) != 1:
        raise ValueError("matrix is not an element of the group")
    return int(hits[0])


def multiplication_table(elements: np.ndarray) -> np.ndarray:
    """``table[i, j]`` = index of ``elements[i] @ elements[j]``."""
    n = len(elements)
    table = np.empty((n, n), dtype=int)
    for i, j in itertools.product(range(n), repeat=2):
        table[i, j] = find_element(elements, elements[i] @ elements[j])
    return table


def regular_representation(table: np.ndarray) -> np.ndarray:
    """Left regular representation as permutation matrices, shape (|G|, |G|, |G|)."""
    n = len(table)
    rep = np.zeros((n, n, n))
    for g in range(n):
        rep[g, table[g], np.arange(n)] = 1.0
    return rep


def invariant_symmetric_matrix(rep: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Reynolds average of a random symmetric matrix: commutes with every ``rep[g]``."""
    dim = rep.shape[1]
    a = rng.normal(size=(dim, dim))
    a = a + a.T
    n = len(rep)
    left = (rep.reshape(-1, dim) @ a).reshape(n, dim, dim)  # Gamma A
    # sum_g (Gamma A) Gamma^T as one product over the stacked index
    return left.transpose(1, 0, 2).reshape(dim, -1) @ rep.transpose(1, 0, 2).reshape(dim, -1).T / n


def irreducible_blocks(rep: np.ndarray, seed: int = 0, tries: int = 5) -> list[np.ndarray]:
    """Orthonormal bases (dim x d_b arrays) of subspaces that reduce ``rep`` into
    irreducible blocks: the eigenspaces of a random commuting symmetric matrix.

    Each block is checked to be irreducible over the reals (<chi, chi> in {1, 2, 4});
    on a failure (an accidental degeneracy) another random matrix is tried.
    """
    rep = np.asarray(rep, float)
    order = len(rep)
    for attempt in range(tries):
        rng = np.random.default_rng(seed + attempt)
        m = invariant_symmetric_matrix(rep, rng)
        values, vectors = np.linalg.eigh(m)
        scale = max(1.0, float(np.abs(values).max()))
        groups: list[list[int]] = []
        for i, v in enumerate(values):
            if groups and abs(v - values[groups[-1][-1]]) < 1e-7 * scale:
                groups[-1].append(i)
            else:
                groups.append([i])
        blocks = [vectors[:, g] for g in groups]
        ok = True
        for b in blocks:
            chi = np.einsum("gia,ia->g", rep @ b, b)
            norm = chi @ chi / order
            if min(abs(norm - k) for k in (1, 2, 4)) > 1e-6:
                ok = False
                break
        if ok:
            return blocks
    raise RuntimeError("could not split the representation into irreducible blocks")


@dataclass(frozen=True)
class CharacterTable:
    """Irreducible characters (rows) over the group elements (columns) and their labels."""

    characters: np.ndarray  # (n_irreps, |G|)
    labels: tuple[str, ...]

    @property
    def dimensions(self) -> np.ndarray:
        return np.rint(self.characters[:, 0]).astype(int)

    def norms(self) -> np.ndarray:
        """<chi, chi>: 1 for real-type irreducible representations."""
        return np.rint((self.characters**2).sum(axis=1) / self.characters.shape[1]).astype(int)

    def multiplicities(self, character: np.ndarray) -> np.ndarray:
        """How often each irreducible representation occurs in a representation with
        ``character`` (|G|,): the character projection <chi_rep, chi_i> / <chi_i, chi_i>."""
        order = self.characters.shape[1]
        raw = self.characters @ np.asarray(character, float) / order / self.norms()
        out = np.rint(raw).astype(int)
        if np.abs(raw - out).max() > 1e-6:
            raise ValueError("character is not a sum of irreducible characters of this group")
        return out

    def projector(self, index: int, rep: np.ndarray) -> np.ndarray:
        """Projector onto the isotypic component of irreducible ``index`` in ``rep``."""
        order = self.characters.shape[1]
        coeff = self.dimensions[index] / (order * self.norms()[index])
        return coeff * np.einsum("g,gij->ij", self.characters[index], rep)

    def label_of(self, character: np.ndarray) -> str:
        diff = np.abs(self.characters - np.asarray(character)[None]).max(axis=1)
        i = int(np.argmin(diff))
        if diff[i] > 1e-6:
            raise ValueError("character is not irreducible")
        return self.labels[i]


def _element_orders(elements: np.ndarray) -> np.ndarray:
    orders = []
    for e in elements:
        p, k = e.copy(), 1
        while not np.allclose(p, np.eye(3), atol=1e-9):
            p, k = p @ e, k + 1
        orders.append(k)
    return np.array(orders)


def mulliken_labels(elements: np.ndarray, characters: np.ndarray) -> tuple[str, ...]:
    """Mulliken-style labels: A/B (1D), E (2D), T (3D); g/u by the inversion; for cubic
    groups the numeral follows the sign of the character on a fourfold (C4, else S4)
    element. Otherwise labels that would coincide get a running numeral."""
    orders = _element_orders(elements)
    dets = np.rint(np.linalg.det(elements)).astype(int)
    inv = [i for i, e in enumerate(elements) if np.allclose(e, -np.eye(3))]
    proper = [i for i in range(len(elements)) if dets[i] == 1 and orders[i] > 1]
    cubic = int(((orders == 3) & (dets == 1)).sum()) == 8
    principal = max(proper, key=lambda i: orders[i]) if proper else None
    four = [i for i in range(len(elements)) if orders[i] == 4 and dets[i] == 1]
    four = four or [i for i in range(len(elements)) if orders[i] == 4]
    labels = []
    for chi in characters:
        d = int(round(chi[0]))
        if d == 1:
            letter = "A" if cubic or principal is None or chi[principal] > 0 else "B"
        else:
            letter = {2: "E", 3: "T"}.get(d, f"G{d}")
        numeral = ""
        if cubic and four and d in (1, 3):
            numeral = "1" if chi[four[0]] > 0 else "2"
        parity = ""
        if inv:
            parity = "g" if chi[inv[0]] > 0 else "u"
        labels.append(letter + numeral + parity)
    # disambiguate what is still equal
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    if any(v > 1 for v in seen.values()):
        counter: dict[str, int] = {}
        out = []
        for label in labels:
            if seen[label] > 1:
                counter[label] = counter.get(label, 0) + 1
                out.append(f"{label[0]}{counter[label]}{label[1:]}")
            else:
                out.append(label)
        labels = out
    return tuple(labels)


def character_table(elements: np.ndarray) -> CharacterTable:
    """Irreducible characters of the group ``elements``, computed from its regular
    representation; rows ordered by dimension, then trivial first, then by label."""
    table = multiplication_table(elements)
    rep = regular_representation(table)
    chars: list[np.ndarray] = []
    for block in irreducible_blocks(rep):
        chi = np.einsum("ia,gij,ja->g", block, rep, block)
        if not any(np.abs(chi - c).max() < 1e-6 for c in chars):
            chars.append(chi)
    characters = np.array(chars)
    order = len(elements)
    norms = np.rint((characters**2).sum(axis=1) / order)
    # a real irreducible of dimension d and norm k stands for complex irreducibles whose
    # squared dimensions add up to d^2 / k, so these must add up to |G|
    if abs(((characters[:, 0] ** 2) / norms).sum() - order) > 1e-6:
        raise RuntimeError("incomplete character table: sum of squared dimensions != group order")
    # trivial first, then the most symmetric: numerals of otherwise equal labels follow this
    pre = sorted(range(len(characters)),
                 key=lambda i: (round(characters[i, 0]), -round(characters[i].sum())))
    characters = np.rint(characters[pre] * 1e8) / 1e8
    labels = mulliken_labels(elements, characters)
    letters = "ABETG"

    def key(i: int) -> tuple:
        label = labels[i]
        return (0 if np.allclose(characters[i], 1.0) else 1, "u" in label[1:],
                letters.index(label[0]) if label[0] in letters else 9, label)

    order_idx = sorted(range(len(characters)), key=key)
    return CharacterTable(characters=characters[order_idx], labels=tuple(labels[i] for i in order_idx))
