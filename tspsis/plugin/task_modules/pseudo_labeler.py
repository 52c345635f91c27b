"""One pseudo-labeller for every teacher-student head (paper Sec. 4.1-4.2, Eq. 3-7), and the partial-supervision
helpers the heads share.

:class:`PseudoLabeler` (registered in mmdet's ``TASK_UTILS``, like its samplers and assigners) turns what a
teacher-student head has on the grid of its mask predictions -- the teacher's logits Mt, the student's logits Ms,
each row's class l and ``has_mask``, the RoIs the grid covers, the objects' ground-truth boxes, the union of the
seen-category ground-truth masks and, for r = CRF, the image -- into the student's targets G_l (Eq. 4, 6) and a loss
weight per row. Every teacher-student head calls it: Mask R-CNN's and OPMask's
(:class:`~tspsis.plugin.roi_heads.teacher_student.TeacherStudentRoIHead`) on the RoI grid, BoxInst's
(:class:`~tspsis.plugin.dense_heads.boxinst.TeacherStudentBoxInstMaskHead`) on the image's stride grid. The pure r(.) and
cleaning functions live in :mod:`tspsis.core.pseudo`; the options are checked here, once.

Config (the key of every teacher-student head)::

    pseudo_labeler=dict(type='PseudoLabeler',
        post_process=dict(type='threshold', thr=0.5),  # r in Eq. 4/6
        clean=True,              # pseudo masks: background in seen GT masks and outside the box (Sec. 5.1)
        warmup_iters=0,          # no unseen-object student loss for the first N iterations
        weighting='none')        # or 'confidence': each pseudo mask weighted by the teacher's confidence

What the partially supervised heads share beyond pseudo labels (the per-instance ``has_mask`` flag, the union of
seen masks used by the cleaning, RGB crops for the CRF) is in :mod:`tspsis.plugin.utils.partial_supervision`; the
weighted mean over RoIs of the student loss is here.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from torch import Tensor
from torchvision.ops import roi_align

from mmdet.registry import TASK_UTILS

from tspsis.core import pseudo
from tspsis.core.validate import check_choice

__all__ = [
    'NO_POST_PROCESSING',
    'POST_PROCESS_TYPES',
    'PseudoLabeler',
    'STUDENT_LOSSES',
    'StudentTargets',
    'TEST_MASK_HEADS',
    'WEIGHTINGS',
    'build_pseudo_labeler',
    'reject_old_pseudo_options',
    'teacher_student_init',
    'weighted_roi_mean',
]

NO_POST_PROCESSING = 'none'  # post_process type: soft targets Mt, no r (Table 4)
POST_PROCESS_TYPES = (*pseudo.PSEUDO_MASK_METHODS, NO_POST_PROCESSING)
WEIGHTINGS = ('none', 'confidence')
STUDENT_LOSSES = ('label_channel', 'all_channels')
TEST_MASK_HEADS = ('student', 'teacher')

# The options of each post_process type beside `type` (tspsis.core.pseudo.make_pseudo_masks' keywords).
_POST_PROCESS_OPTIONS = {
    'threshold': ('thr',),
    'interact': ('thr',),
    'crf': ('thr', 'crf_backend', 'crf_iterations', 'crf_params'),
    NO_POST_PROCESSING: (),
}
# The teacher-student options before there was one PseudoLabeler, and where each went.
_OLD_OPTIONS = {
    'pseudo_mask': 'post_process',
    'clean_pseudo': 'clean',
    'pseudo_warmup_iters': 'warmup_iters',
    'pseudo_weighting': 'weighting',
}

ImageSource = Union[Tensor, Callable[[Tensor], Tensor], None]
UnionSource = Union[Tensor, Callable[[], Tensor]]


def reject_old_pseudo_options(owner: str, kwargs: dict) -> None:
    """TypeError if `kwargs` holds an option that ``pseudo_labeler`` replaced (old configs fail loudly)."""
    old = [key for key in _OLD_OPTIONS if key in kwargs]
    if old:
        moved = ', '.join(f'`{key}` -> `pseudo_labeler.{_OLD_OPTIONS[key]}`' for key in old)
        raise TypeError(f"{owner}: the pseudo-mask options moved into pseudo_labeler=dict(type='PseudoLabeler', "
                        f"post_process=..., clean=..., warmup_iters=..., weighting=...): {moved}")


def build_pseudo_labeler(cfg: Union[dict, 'PseudoLabeler', None]) -> 'PseudoLabeler':
    """A PseudoLabeler from its config (None: the defaults), or `cfg` itself if it is one."""
    if isinstance(cfg, PseudoLabeler):
        return cfg
    cfg = dict(cfg or {})
    cfg.setdefault('type', 'PseudoLabeler')
    return TASK_UTILS.build(cfg)


class StudentTargets(NamedTuple):
    """targets: (P, h, w) float, G_l of each row (Eq. 3, 4, 6); weights: (P,) float loss weight of each row."""

    targets: Tensor
    weights: Tensor


@TASK_UTILS.register_module()
class PseudoLabeler:
    """The student's targets and loss weights from the teacher (Eq. 4, 6; Sec. 4.2, 5.1).

    Seen rows (``has_mask``) keep their ground truth; unseen rows get r(Mt), cleaned, with a weight set by the
    warm-up and the weighting.

    Args:
        post_process: r in Eq. 4/6, ``dict(type=..., **options)``:
            ``'threshold'`` (r(Mt) = Mt >= thr), ``'interact'`` (r = (Mt + Ms) / 2 >= thr) with ``thr=0.5``;
            ``'crf'`` (r = CRF(Mt) >= thr) with ``thr``, ``crf_backend='torch'|'pydensecrf'``,
            ``crf_iterations=5``, ``crf_params=dict(...)`` (:class:`tspsis.core.pseudo.CRFParams`); ``'none'``: no r,
            the teacher's probabilities Mt are soft targets (the "post-processing off" row of Table 4; needs
            ``clean=False``). See :func:`tspsis.core.pseudo.make_pseudo_masks`.
        clean: pseudo-mask cells inside any seen-category ground-truth mask of the image (crowd/ignored ones
            included) or outside the object's ground-truth box are background (Sec. 5.1).
        warmup_iters: for the first N training iterations (mmengine's MessageHub ``'iter'``) unseen rows get
            weight 0: the student ignores unseen objects while the teacher is untrained (not in the paper).
        weighting: ``'none'`` (weight 1), or ``'confidence'``: an unseen row's weight is the teacher's mean
            confidence mean(|2 Mt - 1|) over the cells of its grid inside the object's box (not in the paper).
    """

    def __init__(self,
                 post_process: Optional[dict] = None,
                 clean: bool = True,
                 warmup_iters: int = 0,
                 weighting: str = 'none') -> None:
        owner = 'PseudoLabeler'
        cfg = {'type': 'threshold', **(post_process or {})}
        method = cfg.pop('type')
        check_choice('post_process.type', method, POST_PROCESS_TYPES, owner=owner)
        unknown = sorted(set(cfg) - set(_POST_PROCESS_OPTIONS[method]))
        if unknown:
            raise ValueError(f'{owner}: `post_process.{unknown[0]}` is not an option of type {method!r}; '
                             f'its options: {_POST_PROCESS_OPTIONS[method]}')
        if method == 'crf':
            check_choice('post_process.crf_backend', cfg.get('crf_backend', 'torch'), pseudo.CRF_BACKENDS,
                         owner=owner)
            if isinstance(cfg.get('crf_params'), dict):
                cfg['crf_params'] = pseudo.CRFParams(**cfg['crf_params'])
        check_choice('weighting', weighting, WEIGHTINGS, owner=owner)
        if not isinstance(warmup_iters, int) or warmup_iters < 0:
            raise ValueError(f'{owner}: `warmup_iters` must be an integer >= 0, got {warmup_iters!r}')
        if method == NO_POST_PROCESSING and clean:
            raise ValueError(f"{owner}: post_process type 'none' is Table 4's run without post-processing (soft "
                             'targets); set clean=False')
        self.method = method
        self.options = cfg
        self.clean = bool(clean)
        self.warmup_iters = warmup_iters
        self.weighting = weighting

    def __repr__(self) -> str:
        return (f'PseudoLabeler(post_process={dict(type=self.method, **self.options)}, clean={self.clean}, '
                f'warmup_iters={self.warmup_iters}, weighting={self.weighting!r})')

    @property
    def post_process(self) -> dict:
        """The post_process config as checked: ``dict(type=..., **options)``."""
        return dict(type=self.method, **self.options)

    @staticmethod
    def iteration() -> int:
        """The current training iteration (mmengine's MessageHub runtime info ``'iter'``, 0 outside a runner)."""
        return int(MessageHub.get_current_instance().get_info('iter', 0))

    def in_warmup(self, iteration: Optional[int] = None) -> bool:
        return (self.iteration() if iteration is None else iteration) < self.warmup_iters

    # ------------------------------------------------------------------------------------------------- r(.)
    def post_process_masks(self, teacher_probs: Tensor, student_probs: Optional[Tensor] = None,
                           images: Optional[Tensor] = None) -> Tensor:
        """r(Mt) (Eq. 4/6) of U rows on one grid, or Mt itself for type 'none'.

        teacher_probs: (U, h, w) Mt in [0, 1]; student_probs: (U, h, w) Ms of each row's class (``'interact'``);
        images: (U, 3, h, w) RGB [0, 255] on the same grid (``'crf'``). Returns (U, h, w) float.
        """
        if self.method == NO_POST_PROCESSING:
            return teacher_probs.float()
        return pseudo.make_pseudo_masks(self.method, teacher_probs, student_probs=student_probs, images=images,
                                        **self.options).float()

    def _crf_on_windows(self, teacher_probs: Tensor, rois: Tensor, windows: Tensor, images: Tensor) -> Tensor:
        """r = CRF(Mt) >= thr on a window of each row's grid, pasted back (nearest cell), zero outside the window.

        For grids too large for the exact dense CRF (BoxInst's whole-image stride grid): the CRF runs on an
        s x s grid RoI-aligned on the window (the object's box). teacher_probs: (U, h, w) on the row grids,
        which cover rois (U, 4); windows: (U, 4) xyxy in the units of rois; images: (U, 3, s, s) RGB crops of
        the windows. Returns (U, h, w) bool.
        """
        num, height, width = teacher_probs.shape
        size = tuple(images.shape[-2:])
        # windows in the grid's cell coordinates: cell c spans [c, c + 1)
        scale = torch.stack([width / (rois[:, 2] - rois[:, 0]).clamp(min=1e-6),
                             height / (rois[:, 3] - rois[:, 1]).clamp(min=1e-6)], dim=1).repeat(1, 2)
        cells = (windows - rois[:, :2].repeat(1, 2)) * scale  # (U, 4)
        rows = torch.arange(num, device=cells.device, dtype=cells.dtype)[:, None]
        probs = roi_align(teacher_probs[:, None].float(), torch.cat([rows, cells], dim=1), size,
                          spatial_scale=1.0, sampling_ratio=0, aligned=True)[:, 0]
        masks = self.post_process_masks(probs.clamp(0, 1), images=images)

        # each grid cell centre (c + 0.5) in the window's normalised coordinates: -1 and 1 are its edges
        xs = torch.arange(width, device=cells.device, dtype=cells.dtype) + 0.5
        ys = torch.arange(height, device=cells.device, dtype=cells.dtype) + 0.5
        u = 2 * (xs - cells[:, 0:1]) / (cells[:, 2:3] - cells[:, 0:1]).clamp(min=1e-6) - 1  # (U, w)
        v = 2 * (ys - cells[:, 1:2]) / (cells[:, 3:4] - cells[:, 1:2]).clamp(min=1e-6) - 1  # (U, h)
        grid = torch.stack([u[:, None, :].expand(-1, height, -1), v[:, :, None].expand(-1, -1, width)], dim=-1)
        pasted = F.grid_sample(masks[:, None], grid, mode='nearest', padding_mode='zeros',
                               align_corners=False)[:, 0]
        inside = (u.abs() <= 1)[:, None, :] & (v.abs() <= 1)[:, :, None]
        return (pasted > 0.5) & inside

    @staticmethod
    def teacher_probabilities(teacher_logits: Tensor, size: Tuple[int, int]) -> Tensor:
        """Mt on the student's grid: (U, h, w) probabilities of (U, 1, ht, wt) or (U, ht, wt) teacher logits,
        area-averaged when ht x wt != h x w (the 56x56 teacher of Table 3)."""
        if teacher_logits.dim() == 4:
            teacher_logits = teacher_logits[:, 0]
        teacher_probs = teacher_logits.detach().float().sigmoid()
        if tuple(teacher_probs.shape[-2:]) != tuple(size):
            teacher_probs = F.interpolate(teacher_probs[:, None], size=tuple(size), mode='area')[:, 0]
        return teacher_probs

    # ------------------------------------------------------------------------------------------ the targets
    @torch.no_grad()
    def __call__(self,
                 gt_targets: Tensor,
                 teacher_logits: Tensor,
                 student_logits: Tensor,
                 labels: Tensor,
                 has_mask: Tensor,
                 rois: Tensor,
                 gt_boxes: Tensor,
                 seen_union: UnionSource,
                 img_idx: Tensor,
                 images: ImageSource = None,
                 crf_windows: Optional[Tensor] = None,
                 iteration: Optional[int] = None) -> StudentTargets:
        """G_l (Eq. 3, 4, 6) of every row and its loss weight. Nothing returned carries gradient.

        P rows (RoIs, or BoxInst's positives), each with an h x w grid covering ``rois[p]``:

        * gt_targets: (P, h, w) ground-truth targets on the grid (the rows of unseen objects are ignored);
        * teacher_logits: (P, 1, ht, wt) or (P, ht, wt) Mt logits; a grid other than h x w is brought to it by
          area averaging (the 56x56 teacher of Table 3);
        * student_logits: (P, C, h, w) Ms logits (channel ``labels[p]`` is used) or (P, h, w) of channel l;
          read by r = interact only;
        * labels: (P,) class l; has_mask: (P,) bool, the object has a ground-truth mask (seen category);
        * rois: (P, 4) xyxy area of each grid; gt_boxes: (P, 4) xyxy box of each row's object, same units;
        * seen_union: (B, H, W) bool, per image the union of its seen ground-truth masks (ignored/crowd ones
          included, :func:`~tspsis.plugin.utils.partial_supervision.seen_union_masks`) in the units of rois; or a callable returning it (called only
          if cleaning); img_idx: (P,) image of each row;
        * images: for r = CRF, (P, 3, hc, wc) RGB [0, 255] crops of each row's CRF grid, or a callable giving
          them for a LongTensor of row indices (called only for r = CRF); hc x wc = h x w without crf_windows;
        * crf_windows: (P, 4) xyxy in the units of rois: r = CRF runs on an hc x wc grid on this window of
          each row's grid and is pasted back (see ``_crf_on_windows``); None: on the grid itself;
        * iteration: the training iteration for the warm-up (default: mmengine's MessageHub).

        The ground-truth rows of unseen objects are never read (the leakage tests scramble them). During the
        warm-up unseen rows get all-zero targets and weight 0, and no r is computed.
        Returns :class:`StudentTargets` (targets (P, h, w) float, weights (P,) float).
        """
        size = tuple(gt_targets.shape[-2:])
        targets = gt_targets.detach().clone().float()
        weights = targets.new_ones(len(targets))
        unseen = ~has_mask.bool()
        if not bool(unseen.any()):
            return StudentTargets(targets, weights)
        if self.in_warmup(iteration):
            targets[unseen] = 0
            weights[unseen] = 0
            return StudentTargets(targets, weights)

        rows = unseen.nonzero()[:, 0]
        teacher_probs = self.teacher_probabilities(teacher_logits[rows], size)
        unseen_rois, unseen_boxes = rois[rows].float(), gt_boxes[rows].float()

        student_probs = crops = None
        if self.method == 'interact':
            if student_logits.dim() == 4:
                student_logits = student_logits[rows, labels[rows]]
            else:
                student_logits = student_logits[rows]
            student_probs = student_logits.detach().float().sigmoid()
        if self.method == 'crf':
            if images is None:
                raise ValueError("PseudoLabeler: post_process type 'crf' needs the training images")
            crops = images(rows) if callable(images) else images[rows]
            crops = crops.detach().float()
        if self.method == 'crf' and crf_windows is not None:
            pseudo_masks = self._crf_on_windows(teacher_probs, unseen_rois, crf_windows[rows].float(), crops)
        else:
            pseudo_masks = self.post_process_masks(teacher_probs, student_probs, crops)

        box_cells = pseudo.box_mask_on_rois(unseen_rois, unseen_boxes, size)  # (U, h, w) inside the box
        if self.clean:
            union = seen_union() if callable(seen_union) else seen_union
            seen_cells = pseudo.union_mask_on_rois(unseen_rois, img_idx[rows], union.to(rois.device), size)
            pseudo_masks = pseudo.clean_pseudo_masks(pseudo_masks, seen_cells, box_cells)
        targets[rows] = pseudo_masks.to(targets.dtype)
        if self.weighting == 'confidence':
            weights[rows] = _box_confidence(teacher_probs, box_cells)
        return StudentTargets(targets, weights)


def _box_confidence(teacher_probs: Tensor, box_cells: Tensor) -> Tensor:
    """(U,) mean |2 Mt - 1| over the cells inside each object's box (all cells where none is inside)."""
    confidence = (2 * teacher_probs - 1).abs()
    region = torch.where(box_cells.flatten(1).any(1)[:, None, None], box_cells, torch.ones_like(box_cells))
    region = region.float()
    return (confidence * region).flatten(1).sum(1) / region.flatten(1).sum(1)


def weighted_roi_mean(per_roi: Tensor, weights: Tensor) -> Tensor:
    """Eq. 6 reduced over rows: sum_p w_p L_p / #{p : w_p > 0}.

    per_roi: (P,) loss of each row; weights: (P,) from :class:`PseudoLabeler`. Rows of weight 0 (the warm-up)
    neither contribute nor count; with none left the result is 0 with every row in the graph.
    """
    return (per_roi * weights).sum() / (weights > 0).sum().clamp(min=1)


def teacher_student_init(owner: str, kwargs: dict, pseudo_labeler: Optional[dict],
                         test_mask_head: str) -> 'PseudoLabeler':
    """What every teacher-student head checks on construction: no old pseudo options in `kwargs`, a known
    `test_mask_head`; returns the built PseudoLabeler."""
    reject_old_pseudo_options(owner, kwargs)
    check_choice('test_mask_head', test_mask_head, TEST_MASK_HEADS, owner=owner)
    return build_pseudo_labeler(pseudo_labeler)
