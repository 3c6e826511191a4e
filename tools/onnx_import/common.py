"""common.py - helpers the op converters share: reading inputs, constants and numbers."""
import numpy as np

from .values import Padded, Refuse, Tensor

# epsilon of a batchnorm layer that stands for a plain per-channel affine y = x * s + b
# (mean 0, var 1): the engine computes s / sqrt(1 + eps) in double, which is exactly s.
AFFINE_EPSILON = 1e-30


def num(x):
    """A float32 attribute as the shortest decimal that reads back as the same float32."""
    return float(str(np.float32(x)))


def tensor(v, what="the input"):
    """v as a run-time Tensor, or a refusal saying why it is not one."""
    if isinstance(v, Tensor):
        return v
    if isinstance(v, Padded):
        raise Refuse("%s comes from a Pad, which only folds into a following Conv or pooling"
                     % what)
    if v is None:
        raise Refuse("%s is missing" % what)
    raise Refuse("%s is a constant; tinycnn layers compute on the model input" % what)


def const(v, what):
    """v as a float32 numpy array, or a refusal if it is computed at run time."""
    if isinstance(v, np.ndarray):
        return np.asarray(v, dtype=np.float32)
    raise Refuse("%s must be a constant (an initializer or Constant), not a run-time value" % what)


def int_list(v, what):
    """A constant integer vector (axes, pads, shape) as a list of ints."""
    if not isinstance(v, np.ndarray):
        raise Refuse("%s must be a constant, not a run-time value" % what)
    return [int(a) for a in v.reshape(-1)]


def optional_input(ins, i):
    return ins[i] if len(ins) > i else None


def spatial_name(rank):
    """How a per-sample rank reads in messages: [C, L] is 1-D, [C, D, H, W] is 3-D."""
    return "%d-D" % (rank - 1) if rank >= 2 else "0-D"


def spatial_input(v, op):
    """The [C, H, W] tensor behind v and the zero padding of a Pad in front of it (or zeros)."""
    pads = [0, 0, 0, 0]
    if isinstance(v, Padded):
        pads, v = v.pads, v.tensor
    t = tensor(v)
    if len(t.shape) != 3:
        raise Refuse("%s on a %s input %s: only 2-D (N, C, H, W) is supported"
                     % (op, spatial_name(len(t.shape)), list(t.shape)))
    return t, pads


def pair(v):
    """[h, w] as the format's short form: one integer when both are equal."""
    return int(v[0]) if v[0] == v[1] else [int(v[0]), int(v[1])]


def padding_field(mode, pads):
    """The "padding" value: a mode string, or [top, left, bottom, right] in its shortest form.
    None means no padding (the default)."""
    if mode in ("same", "same_lower"):
        return mode
    t, l, b, r = (int(p) for p in pads)
    if not any((t, l, b, r)):
        return None
    if t == b and l == r:
        return pair([t, l])
    return [t, l, b, r]


def per_channel(c, t, what="the constant"):
    """The constant c, broadcast against tensor t as ONNX does, as one value per channel
    (t's first per-sample dim). Refuses constants that vary along another axis or along the
    batch, and ones that would enlarge t by broadcasting."""
    c = np.asarray(c, dtype=np.float32)
    rank = len(t.shape) + 1
    if c.ndim > rank:
        raise Refuse("%s has shape %s, more dims than the tensor [N, %s]"
                     % (what, list(c.shape), ", ".join(map(str, t.shape))))
    full = c.reshape((1,) * (rank - c.ndim) + c.shape)
    if full.shape[0] != 1:
        raise Refuse("%s has shape %s: it varies along the batch axis" % (what, list(c.shape)))
    per = full[0]
    for axis, (cd, td) in enumerate(zip(per.shape, t.shape)):
        if cd not in (1, td):
            raise Refuse("%s of shape %s does not broadcast to [N, %s] without enlarging it"
                         % (what, list(c.shape), ", ".join(map(str, t.shape))))
    if per.size == 1:
        return np.full(t.shape[0], per.reshape(-1)[0], dtype=np.float32)
    if any(d != 1 for d in per.shape[1:]):
        raise Refuse("%s of shape %s varies along a per-sample axis other than the channels; "
                     "only per-channel or scalar constants are supported" % (what, list(c.shape)))
    return per.reshape(-1).astype(np.float32)
