"""Failure themes: group failing outputs by what they say. No ORM here.

Documents are (id, text) pairs, the text an output's words first, then the end of what the end user asked (the
caller, `services.themes`, builds it and cuts each part to its own length). The method needs no
downloaded model:

- **Vectors**: TF-IDF over words and word pairs: letters only, words joined to digits left out (order numbers,
  prices and dates make no themes), English stop words and greetings left out, a term kept when it is in at
  least MIN_DF documents and at most MAX_DF of them (a word in nearly every failure, such as the shop's name,
  says nothing about any one theme); sublinear term counts, rows of unit length so k-means groups by cosine.
- **Clusters**: the vectors reduced to LSA_COMPONENTS latent dimensions (truncated SVD, seeded), then k-means with
  a fixed seed (SEED) and N_INIT starts for every k from MIN_THEMES to MAX_THEMES but at most one theme per
  DOCUMENTS_PER_THEME documents; the k with the highest mean silhouette (cosine) wins, the smaller k on a tie.
  The cap is there because on a small week the silhouette keeps rising with k as the clusters shrink to a few
  documents each (22 failures of a demo week: 0.05 at k=2, 0.25 at k=5 with themes of 2). The silhouette of
  more than SILHOUETTE_SAMPLE documents is measured on a seeded sample of them, which keeps the choice cheap. On
  planted corpora it peaks at the planted number of kinds in the reduced space, less clearly in the raw one.
- **Order**: themes biggest first (ties: the theme holding the smallest id first), ranks from 1; members sorted by
  id; terms the TOP_TERMS that the theme's centroid weighs most above the mean of all the documents (so a word
  every theme uses names none), a term left out when its words are in the heavier terms already ("label" after
  "refund label"); examples the members nearest the centroid (ties by id).

Documents are sorted by id before anything else, so the same documents in any order give the same themes. Fewer
than MIN_DOCUMENTS documents give no themes: a handful of failures is read one by one, not grouped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where it is used: a web process never loads it
    import numpy as np

# scikit-learn (and the scipy it loads) is imported by the functions that group, not here: this module is on the
# import path of every web worker (the meeting page → services.cycles → services.themes), and the import took about
# 3 s of each worker's start for a grouping only the close and the refresh run.

MIN_DOCUMENTS = 6
MAX_DOCUMENTS = 5_000  # per week: a larger week is themed on an evenly spread choice of its failures
# A last bound on a document's length, for the run time; the caller has cut the output and the input on their own.
MAX_DOCUMENT_CHARS = 4_000
MIN_THEMES, MAX_THEMES = 2, 5
DOCUMENTS_PER_THEME = 8  # at most one theme per this many documents (see the module's docstring)
TOP_TERMS = 6
EXAMPLES = 3
SEED = 0
N_INIT = 4
SILHOUETTE_SAMPLE = 2_000
LSA_COMPONENTS = 50
MIN_DF = 2
MAX_DF = 0.8
TOKEN_PATTERN = r"(?u)\b[^\W\d_]{2,}\b"  # words of two letters or more, no digits
# Greetings and thanks (customers' and bots' alike: in every kind of failure, they name none), and what the word
# pattern leaves of contractions ("I've" → "ve").
EXTRA_STOP_WORDS = frozenset(
    "hi hello hey morning afternoon evening thanks thank thx ty cheers please sure happy glad welcome ok okay "
    "great reaching ll ve re don didn doesn isn wasn won aren haven hasn couldn wouldn shouldn".split()
)
# Order numbers, dates, prices and the like ("KP-1373746", "5–7", "£98.00") go whole, their letters too ("kp").
_ID_LIKE = re.compile(r"[\w-]*\d[\w-]*")


@dataclass(frozen=True)
class Theme:
    rank: int  # 1 = the biggest
    terms: tuple[str, ...]  # heaviest first
    member_ids: tuple[int, ...]  # sorted
    example_ids: tuple[int, ...]  # nearest the centroid first

    @property
    def size(self) -> int:
        return len(self.member_ids)


def evenly_spread(ids: Sequence[int], limit: int = MAX_DOCUMENTS) -> list[int]:
    """At most `limit` of the ids, spread evenly over their sorted order (the same ids give the same choice)."""
    ordered = sorted(ids)
    if len(ordered) <= limit:
        return ordered
    return [ordered[index * len(ordered) // limit] for index in range(limit)]


def find_themes(documents: Iterable[tuple[int, str]], *, seed: int = SEED) -> list[Theme]:
    """Group the documents into MIN_THEMES to MAX_THEMES themes (see the module's docstring); [] when too few."""
    import numpy as np

    ordered = sorted(documents)
    ids = [doc_id for doc_id, _ in ordered]
    if len(ids) != len(set(ids)):
        raise ValueError("Document ids must be unique.")
    if len(ordered) < MIN_DOCUMENTS:
        return []
    # threadpoolctl limits only the libraries already loaded when the block starts: load scikit-learn's (and
    # scipy's) first, or the first themes of a worker run on every core.
    import sklearn.cluster  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import sklearn.preprocessing  # noqa: F401
    from threadpoolctl import threadpool_limits

    # One thread: k-means over OpenMP threads ran ten times slower on a busy two-core worker, and one thread
    # sums in one order on every machine.
    with threadpool_limits(limits=1):
        matrix, terms = _vectors([_ID_LIKE.sub(" ", text[:MAX_DOCUMENT_CHARS]) for _, text in ordered])
        if matrix is None:
            return []
        distinct = len({(row.indices.tobytes(), row.data.tobytes()) for row in matrix})
        if distinct < MIN_THEMES:  # nothing to tell apart (every failure says the same)
            labels = np.zeros(len(ids), dtype=int)
        else:
            vectors = _concepts(matrix, seed=seed)
            most = min(MAX_THEMES, max(MIN_THEMES, len(ids) // DOCUMENTS_PER_THEME), distinct, len(ids) - 1)
            labels = _best_clustering(vectors, max_k=most, seed=seed)
        return _themes(ids, matrix, terms, labels)


def _vectors(texts: list[str]):
    """The TF-IDF matrix and its terms; (None, None) when no term is left (too few shared words)."""
    import numpy as np
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    # A tiny corpus may share no word twice, or failures may all say the same: then every word counts.
    for min_df, max_df in ((MIN_DF, MAX_DF), (1, 1.0)):
        vectorizer = TfidfVectorizer(
            ngram_range=(1, 2),
            stop_words=sorted(ENGLISH_STOP_WORDS | EXTRA_STOP_WORDS),
            token_pattern=TOKEN_PATTERN,
            min_df=min_df,
            max_df=max_df,
            sublinear_tf=True,
            dtype=np.float64,
        )
        try:
            matrix = vectorizer.fit_transform(texts)
        except ValueError:  # "empty vocabulary" or "no terms remain after pruning"
            continue
        if matrix.nnz:
            return matrix.tocsr(), vectorizer.get_feature_names_out()
    return None, None


def _concepts(matrix, *, seed: int) -> np.ndarray:
    """The documents in LSA_COMPONENTS latent dimensions (seeded truncated SVD), rows of unit length: word pairs
    that occur by chance make the TF-IDF space noisy, and k-means and the silhouette see the themes more clearly
    in the reduced one."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    components = min(LSA_COMPONENTS, matrix.shape[1] - 1, matrix.shape[0] - 1)
    if components < MIN_THEMES:
        return matrix
    return normalize(TruncatedSVD(n_components=components, random_state=seed).fit_transform(matrix))


def _best_clustering(vectors, *, max_k: int, seed: int) -> np.ndarray:
    """The labels of the k-means clustering with the best silhouette (see the module's docstring)."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    best = None
    sample = SILHOUETTE_SAMPLE if vectors.shape[0] > SILHOUETTE_SAMPLE else None
    for k in range(MIN_THEMES, max(MIN_THEMES, max_k) + 1):
        labels = KMeans(n_clusters=k, random_state=seed, n_init=N_INIT).fit(vectors).labels_
        if len(set(labels.tolist())) < 2:
            continue
        score = silhouette_score(vectors, labels, metric="cosine", sample_size=sample, random_state=seed)
        if best is None or score > best[0] + 1e-9:
            best = (score, labels)
    return best[1] if best is not None else np.zeros(vectors.shape[0], dtype=int)


def _themes(ids: list[int], matrix, terms, labels: np.ndarray) -> list[Theme]:
    import numpy as np

    groups = []
    overall = np.asarray(matrix.mean(axis=0)).ravel()
    clusters = sorted(set(labels.tolist()))
    for cluster in clusters:
        rows = np.flatnonzero(labels == cluster)
        centroid = np.asarray(matrix[rows].mean(axis=0)).ravel()  # in the TF-IDF space, where the terms are
        nearness = matrix[rows] @ centroid
        nearest = sorted(range(len(rows)), key=lambda n: (-round(float(nearness[n]), 12), ids[rows[n]]))
        groups.append(
            (
                tuple(ids[row] for row in rows),
                _top_terms(centroid - overall if len(clusters) > 1 else centroid, terms),
                tuple(ids[rows[n]] for n in nearest[:EXAMPLES]),
            )
        )
    groups.sort(key=lambda group: (-len(group[0]), group[0][0]))
    return [
        Theme(rank=rank, terms=top, member_ids=members, example_ids=examples)
        for rank, (members, top, examples) in enumerate(groups, start=1)
    ]


def _top_terms(weights: np.ndarray, terms) -> tuple[str, ...]:
    import numpy as np

    chosen: list[str] = []
    covered: set[str] = set()
    # Heaviest first; equal weights in alphabetical order, so the choice never depends on the sort's stability.
    for index in sorted(np.flatnonzero(weights > 0), key=lambda i: (-round(float(weights[i]), 12), terms[i])):
        words = terms[index].split()
        if set(words) <= covered:
            continue
        chosen.append(str(terms[index]))
        covered.update(words)
        if len(chosen) == TOP_TERMS:
            break
    return tuple(chosen)
