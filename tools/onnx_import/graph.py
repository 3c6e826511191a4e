"""graph.py - the ONNX graph as plain Python objects, and the rewrite pass run before conversion.

The rewrite pass puts back together what exporters decompose, so that each pattern becomes one
node the converter maps to one engine activation:

    GELU      x * 0.5 * (1 + erf(x / sqrt(2)))   Div|Mul, Erf, Add, Mul, Mul   -> Gelu
    Softsign  x / (1 + |x|)                      Abs, Add, Div                 -> Softsign
    HardSwish x * HardSigmoid(x; 1/6, 0.5)       HardSigmoid, Mul              -> HardSwish
    SiLU      x * sigmoid(x)                     Sigmoid, Mul                  -> Silu

A pattern is only rewritten when its intermediate values feed nothing else (not even a graph
output), so the rewrite never changes what the graph computes. Nodes that no graph output depends
on are dropped afterwards.
"""
import math

import numpy as np
from onnx import helper, numpy_helper

# Relative tolerance for recognising the constants of a pattern (exporters write them as float32).
CONST_RTOL = 1e-6


class Node:
    """One ONNX node: op type, name, input and output value names ('' = absent), attributes."""

    __slots__ = ("op", "name", "domain", "inputs", "outputs", "attrs", "fused_from")

    def __init__(self, op, name, inputs, outputs, attrs, domain="", fused_from=None):
        self.op = op
        self.name = name
        self.domain = domain
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.attrs = attrs            # name -> Python value (see attribute_value)
        self.fused_from = fused_from  # for rewritten nodes: the op types they replace

    def label(self):
        """How messages name the node: its name, else its first output."""
        if self.name:
            return self.name
        return "(unnamed, output %s)" % (self.outputs[0] if self.outputs else "?")

    def op_label(self):
        if self.fused_from:
            return "%s, fused from %s" % (self.op, "/".join(self.fused_from))
        return self.op


def attribute_value(attr):
    """An AttributeProto as a Python value: str for strings, ndarray for tensors."""
    value = helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8", "replace") for v in value]
    if hasattr(value, "data_type") and hasattr(value, "dims"):
        return numpy_helper.to_array(value)
    return value


def parse_nodes(graph):
    return [Node(n.op_type, n.name, n.input, n.output,
                 {a.name: attribute_value(a) for a in n.attribute}, n.domain)
            for n in graph.node]


class _Patterns:
    """Lookup helpers for matching: who produces and who consumes each value."""

    def __init__(self, nodes, consts, graph_outputs):
        self.consts = consts
        self.producer = {o: n for n in nodes for o in n.outputs if o}
        self.consumers = {}
        for n in nodes:
            for name in n.inputs:
                self.consumers.setdefault(name, []).append(n)
        self.graph_outputs = set(graph_outputs)
        self.taken = set()  # ids of nodes already part of a rewritten pattern

    def sole(self, name, op):
        """The only consumer of value `name` if it has op type `op` and is still free."""
        users = self.consumers.get(name, [])
        if name in self.graph_outputs or len(users) != 1:
            return None
        node = users[0]
        return node if node.op == op and id(node) not in self.taken and not node.domain else None

    def made_by(self, name, op):
        node = self.producer.get(name)
        ok = node is not None and node.op == op and id(node) not in self.taken and not node.domain
        return node if ok else None

    def near(self, name, value):
        """True if `name` is a one-element constant close to `value`."""
        c = self.consts.get(name)
        if c is None or np.size(c) != 1 or not np.issubdtype(np.asarray(c).dtype, np.floating):
            return False
        return math.isclose(float(np.asarray(c).reshape(-1)[0]), value, rel_tol=CONST_RTOL)


def _other(node, name):
    """The other input of a two-input node that has `name` as one input, else None."""
    if len(node.inputs) != 2:
        return None
    if node.inputs[0] == name:
        return node.inputs[1]
    return node.inputs[0] if node.inputs[1] == name else None


def _match_gelu(p, erf):
    """x * 0.5 * (1 + erf(x / sqrt2)) in the orders exporters write it."""
    scaled = erf.inputs[0]
    pre = p.made_by(scaled, "Div") or p.made_by(scaled, "Mul")
    if pre is None or p.sole(scaled, "Erf") is not erf:
        return None
    x = pre.inputs[0] if pre.op == "Div" else None
    if pre.op == "Div" and not p.near(pre.inputs[1], math.sqrt(2.0)):
        return None
    if pre.op == "Mul":
        x = next((a for a, b in (pre.inputs, pre.inputs[::-1]) if p.near(b, math.sqrt(0.5))), None)
        if x is None:
            return None
    add = p.sole(erf.outputs[0], "Add")
    if add is None or not p.near(_other(add, erf.outputs[0]), 1.0):
        return None
    m1 = p.sole(add.outputs[0], "Mul")
    if m1 is None:
        return None
    other = _other(m1, add.outputs[0])
    if other == x:                                    # (x * (1 + erf)) * 0.5
        m2 = p.sole(m1.outputs[0], "Mul")
        if m2 is not None and p.near(_other(m2, m1.outputs[0]), 0.5):
            return [pre, erf, add, m1, m2], x
    half = p.made_by(other, "Mul")                    # (x * 0.5) * (1 + erf)
    if half is not None and p.sole(other, "Mul") is m1 and p.near(_other(half, x), 0.5):
        return [pre, erf, add, half, m1], x
    if p.near(other, 0.5):                            # x * ((1 + erf) * 0.5)
        m2 = p.sole(m1.outputs[0], "Mul")
        if m2 is not None and _other(m2, m1.outputs[0]) == x:
            return [pre, erf, add, m1, m2], x
    return None


def _match_softsign(p, absn):
    x = absn.inputs[0]
    add = p.sole(absn.outputs[0], "Add")
    if add is None or not p.near(_other(add, absn.outputs[0]), 1.0):
        return None
    div = p.sole(add.outputs[0], "Div")
    if div is None or div.inputs != [x, add.outputs[0]]:
        return None
    return [absn, add, div], x


def _match_hardswish(p, hsig):
    alpha = hsig.attrs.get("alpha", 0.2)
    beta = hsig.attrs.get("beta", 0.5)
    if not (math.isclose(alpha, 1.0 / 6.0, rel_tol=CONST_RTOL) and beta == 0.5):
        return None
    mul = p.sole(hsig.outputs[0], "Mul")
    x = hsig.inputs[0]
    if mul is None or _other(mul, hsig.outputs[0]) != x:
        return None
    return [hsig, mul], x


def _match_silu(p, sig):
    mul = p.sole(sig.outputs[0], "Mul")
    x = sig.inputs[0]
    if mul is None or _other(mul, sig.outputs[0]) != x:
        return None
    return [sig, mul], x


# anchor op -> (matcher, op of the replacement node)
PATTERNS = {
    "Erf": (_match_gelu, "Gelu"),
    "Abs": (_match_softsign, "Softsign"),
    "HardSigmoid": (_match_hardswish, "HardSwish"),
    "Sigmoid": (_match_silu, "Silu"),
}


def fuse_patterns(nodes, consts, graph_outputs):
    """Returns the node list with every decomposed pattern replaced by one node."""
    p = _Patterns(nodes, consts, graph_outputs)
    replace = {}  # id(last node of a pattern) -> replacement node
    for node in nodes:
        if node.op not in PATTERNS or node.domain or id(node) in p.taken:
            continue
        matcher, new_op = PATTERNS[node.op]
        found = matcher(p, node)
        if found is None or any(id(n) in p.taken for n in found[0]):
            continue
        parts, x = found
        p.taken.update(id(n) for n in parts)
        # The pattern's last node in graph order is where its result is defined.
        last = max(parts, key=nodes.index)
        replace[id(last)] = Node(new_op, last.name, [x], [last.outputs[0]], {},
                                 fused_from=[n.op for n in sorted(parts, key=nodes.index)])
    out = []
    for node in nodes:
        if id(node) in replace:
            out.append(replace[id(node)])
        elif id(node) not in p.taken:
            out.append(node)
    return out


def live_nodes(nodes, graph_outputs):
    """The nodes some graph output depends on, in their original order."""
    needed = set(graph_outputs)
    live = []
    for node in reversed(nodes):
        if any(o in needed for o in node.outputs if o):
            live.append(node)
            needed.update(i for i in node.inputs if i)
    return live[::-1]
