"""model_store.masks: pieces of a mask, and masks grown, closed and peeled by whole pixels."""

from __future__ import annotations

import numpy as np

from model_store.masks import close, grow, holes, inner, label_pieces


def test_pieces_are_found_with_their_boxes_and_areas():
    mask = np.zeros((10, 12), bool)
    mask[1:3, 1:4] = True  # 6 px
    mask[5:9, 8] = True  # 4 px
    mask[9, 9] = True  # touches the bar diagonally: the same piece
    labels, pieces = label_pieces(mask)
    assert [(p.box, p.area) for p in pieces] == [((1, 1, 3, 4), 6), ((5, 8, 10, 10), 5)]
    assert set(np.unique(labels)) == {0, 1, 2}


def test_grow_widens_by_the_radius_in_every_direction():
    mask = np.zeros((9, 9), bool)
    mask[4, 4] = True
    assert grow(mask, 2).sum() == 25 and grow(mask, 0).sum() == 1


def test_close_fills_a_narrow_gap_and_keeps_a_wide_one():
    mask = np.zeros((20, 30), bool)
    mask[5:15, 2:8] = True
    mask[5:15, 10:16] = True  # 2 px from the first
    mask[5:15, 24:28] = True  # 8 px from the second
    closed = close(mask, 2)
    assert closed[5:15, 8:10].all()
    assert not closed[5:15, 18:22].any()
    assert (closed & mask).sum() == mask.sum()  # nothing taken away


def test_inner_drops_the_boundary():
    mask = np.zeros((7, 7), bool)
    mask[1:6, 1:6] = True
    assert inner(mask).sum() == 9


def test_holes_are_the_paper_a_mask_encloses():
    ring = np.zeros((9, 12), bool)
    ring[1:6, 1:6] = True
    ring[2:5, 2:5] = False  # a 3x3 hole
    ring[6:9, 8:12] = True  # a block at the edge: the paper round it is outside
    labels, found = holes(ring)
    assert [(p.box, p.area) for p in found] == [((2, 2, 5, 5), 9)]
    assert labels.shape == ring.shape and (labels > 0).sum() == 9 and labels[2:5, 2:5].all()
