"""convert.py - turns an ONNX ModelProto into a tinycnn model (format version 1).

Steps: read the initializers and the single model input; rewrite decomposed activations
(graph.fuse_patterns) and drop dead nodes; then walk the nodes in order. A node whose inputs
are all constants is evaluated (fold.py); any other node goes to its converter (ops_nn.py,
ops_elem.py). Every node that cannot be converted is recorded with the reason, and conversion
goes on so that one run reports all of them; if there is any, no model is produced.
"""
import numpy as np
from onnx import TensorProto, numpy_helper, shape_inference

from . import ops_elem, ops_nn
from .fold import FOLDERS, constant_node, fold
from .graph import fuse_patterns, live_nodes, parse_nodes
from .values import PLACEHOLDER, POISON, Builder, Padded, Refuse, Tensor

MIN_OPSET, MAX_OPSET = 1, 17  # claimed: 7..17; older models work where attributes agree

HANDLERS = dict(ops_nn.HANDLERS, **ops_elem.HANDLERS)

# Ops that read a reshaped view as it is (they only reshape it again, or pass it on).
VIEW_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Shape"}


class ConversionError(Exception):
    """The model cannot be converted. problems: [(node name, op, reason)]."""

    def __init__(self, problems):
        super().__init__("%d problem(s)" % len(problems))
        self.problems = problems

    def report(self):
        """One line per problem: node "name" (op): reason, or for the model as a whole
        (where in parentheses) what: reason."""
        return "\n".join("  %s (%s): %s" % ("node \"%s\"" % where, what, reason)
                         if not where.startswith("(") else "  %s: %s" % (what, reason)
                         for where, what, reason in self.problems)


class Context:
    """What the converters see: the layer builder, the opset, and the node being converted."""

    def __init__(self, opset, static_batch, uses):
        self.builder = Builder()
        self.opset = opset
        self.static_batch = static_batch  # the input's batch size if the file fixes it
        self.uses = uses                  # ONNX value name -> readers (graph outputs count)
        self.node = None
        self.flattened = {}               # (layer, shape) -> flatten layer made for a view

    def _uses(self):
        return self.uses.get(self.node.outputs[0], 0)

    def emit(self, type_, inputs, fields, shape, nonneg=False, suffix="", uses=None):
        """A new layer computing the current node's output (or a helper layer, with suffix)."""
        hint = (self.node.name or self.node.outputs[0]) + suffix
        return self.builder.add(type_, hint, inputs, fields, shape,
                                self._uses() if uses is None else uses, nonneg)

    def alias(self, t, nonneg=None, uses=None, shape=None):
        """The current node's output is t itself (possibly after changing its layer), or with
        `shape` a view of it."""
        return self.builder.rebind(t, self._uses() if uses is None else uses, shape=shape,
                                   nonneg=nonneg)

    def materialize(self, v):
        """v with its view made real (see values.Tensor); other values unchanged."""
        if not isinstance(v, Tensor) or not v.is_view():
            return v
        if len(v.shape) != 1:
            raise Refuse("reshapes %s to %s per sample; the engine only flattens (to [N, %d])"
                         % (list(v.real), list(v.shape), v.numel()))
        key = (v.layer, v.shape)
        if key not in self.flattened:
            base = Tensor(v.layer, v.real, v.nonneg)
            self.flattened[key] = self.builder.add("flatten", v.layer + "_flatten", [base], {},
                                                   v.shape, 1, v.nonneg)
        return self.flattened[key]


def _dims(value_info):
    """The declared dims of a graph value: ints, or None where unknown or symbolic."""
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]


def _inferred_shapes(model):
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # shape inference is only a cross-check
        return {}
    infos = list(inferred.graph.value_info) + list(inferred.graph.output)
    return {vi.name: _dims(vi) for vi in infos}


def _check_shape(name, value, inferred):
    """Cross-checks a converted shape against ONNX shape inference (guards the converter)."""
    dims = inferred.get(name)
    t = value.tensor if isinstance(value, Padded) else value
    if dims is None or not isinstance(t, Tensor):
        return
    shape = list(t.shape)
    if isinstance(value, Padded):
        shape[1] += value.pads[0] + value.pads[2]
        shape[2] += value.pads[1] + value.pads[3]
    if len(dims) != len(shape) + 1 or any(d is not None and d != s
                                          for d, s in zip(dims[1:], shape)):
        raise Refuse("the converted shape [N, %s] differs from ONNX shape inference %s"
                     % (", ".join(map(str, shape)), ["N" if d is None else d for d in dims]))


def _model_input(graph, consts, problems):
    runtime = [i for i in graph.input if i.name not in consts]
    if len(runtime) != 1:
        problems.append(("(graph)", "inputs", "the model has %d run-time inputs (%s); tinycnn "
                         "models have exactly one" % (len(runtime),
                                                      ", ".join(i.name for i in runtime))))
        return None, None, None
    vi = runtime[0]
    dims = _dims(vi)
    elem = vi.type.tensor_type.elem_type
    reason = None
    if elem != TensorProto.FLOAT:
        reason = "the input is %s; only float32 is supported" % TensorProto.DataType.Name(elem)
    elif dims is None or len(dims) < 2:
        reason = "the input has shape %s; expected [N, ...] with 1 to 4 dims per sample" % dims
    elif len(dims) > 5 or any(d is None or d < 1 for d in dims[1:]):
        reason = "the input has shape %s; per-sample dims must be known and 1 to 4" \
            % ["?" if d is None else d for d in dims]
    if reason:
        problems.append(("(graph)", "input " + vi.name, reason))
        return None, None, None
    return vi.name, dims[1:], dims[0]


def _run_node(ctx, node, values, inferred):
    """Converts one node, storing its outputs in values; raises Refuse."""
    ins = []
    for name in node.inputs:
        if name and name not in values:
            raise Refuse("input \"%s\" is not produced by any node or initializer" % name)
        ins.append(values[name] if name else None)
    while ins and ins[-1] is None:
        ins.pop()
    if node.op == "Constant":
        outs = [constant_node(node)]
    elif ins and all(isinstance(v, np.ndarray) for v in ins if v is not None) \
            and (node.op in FOLDERS or node.op == "Dropout"):
        try:
            outs = fold(node, ins, ctx.opset)
        except (ValueError, IndexError, KeyError, TypeError) as e:
            raise Refuse("cannot evaluate it on its constant inputs: %s" % e)
    elif node.op not in HANDLERS:
        if node.op in FOLDERS:
            raise Refuse("%s is supported on constants only, not on run-time tensors" % node.op)
        raise Refuse("operator not supported")
    else:
        handler, allowed = HANDLERS[node.op]
        unknown = sorted(set(node.attrs) - allowed)
        if unknown:
            raise Refuse("attribute%s %s not supported" % ("s" if len(unknown) > 1 else "",
                                                           ", ".join(unknown)))
        if node.op not in VIEW_OPS:
            ins = [ctx.materialize(v) for v in ins]
        outs = [handler(ctx, node, ins)]
    for k, name in enumerate(node.outputs[1:], start=1):
        if name and ctx.uses.get(name):
            raise Refuse("its output %d (%s) is used; only the first output is supported"
                         % (k, name))
    for name, value in zip(node.outputs, outs):
        if isinstance(value, Padded) and ctx.uses.get(name, 0) == 0:
            continue
        _check_shape(name, value, inferred)
    for name, value in zip(node.outputs, outs):
        values[name] = value


def _stand_in(node, values, inferred):
    """After a node fails, its run-time outputs become placeholders of the shape ONNX infers,
    so that the nodes after it are still checked and reported; without a known shape, or for
    constant outputs, they become POISON and their users are skipped."""
    runtime_in = any(isinstance(values.get(i), (Tensor, Padded)) for i in node.inputs if i)
    for name in node.outputs:
        dims = inferred.get(name)
        if runtime_in and dims and len(dims) >= 2 and all(d for d in dims[1:]):
            values[name] = Tensor(PLACEHOLDER, dims[1:])
        else:
            values[name] = POISON


def _outputs(ctx, graph, values, problems):
    """The layer names of the graph outputs (an identity layer for the input itself)."""
    names = []
    for out in graph.output:
        value = values.get(out.name, POISON)
        elem = out.type.tensor_type.elem_type
        if value is POISON:
            continue
        if elem != TensorProto.FLOAT:
            problems.append(("(graph)", "output " + out.name, "the output is %s; only float32 "
                             "is supported" % TensorProto.DataType.Name(elem)))
        elif not isinstance(value, Tensor):
            kind = "a constant" if isinstance(value, np.ndarray) else "the output of a Pad"
            problems.append(("(graph)", "output " + out.name, "the output is %s, not computed "
                             "by a layer" % kind))
        else:
            try:
                value = ctx.materialize(value)
            except Refuse as e:
                problems.append(("(graph)", "output " + out.name, str(e)))
                continue
            if value.layer == "input":  # a layer must produce every output
                value = ctx.builder.add("activation", out.name + "_identity", [value],
                                        {"function": "identity"}, value.shape, 1)
            names.append(value.layer)
    return names


def convert(model):
    """Converts a ModelProto; returns (input shape, layers, output layer names, output shapes).
    Raises ConversionError listing every node that cannot be converted."""
    problems = []
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        problems.append(("(graph)", "opset", "opset %d is not supported (7 to %d)"
                         % (opset, MAX_OPSET)))
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    input_name, in_shape, batch = _model_input(graph, consts, problems)
    if problems:
        raise ConversionError(problems)

    out_names = [o.name for o in graph.output]
    nodes = parse_nodes(graph)
    pattern_consts = dict(consts)
    for node in nodes:
        if node.op == "Constant" and not node.domain:
            try:
                pattern_consts[node.outputs[0]] = constant_node(node)
            except Refuse:
                pass
    nodes = live_nodes(fuse_patterns(nodes, pattern_consts, out_names), out_names)
    uses = {}
    for name in [i for n in nodes for i in n.inputs if i] + out_names:
        uses[name] = uses.get(name, 0) + 1

    ctx = Context(opset, batch, uses)
    values = dict(consts)
    values[input_name] = Tensor("input", in_shape)
    inferred = _inferred_shapes(model)
    for node in nodes:
        ctx.node = node
        try:
            if node.domain not in ("", "ai.onnx"):
                raise Refuse("operator domain \"%s\" is not supported" % node.domain)
            if any(values.get(i) is POISON for i in node.inputs if i):
                if node.op not in HANDLERS and node.op not in FOLDERS:
                    raise Refuse("operator not supported")
                values.update((o, POISON) for o in node.outputs)
                continue
            _run_node(ctx, node, values, inferred)
        except Refuse as e:
            problems.append((node.label(), node.op_label(), str(e)))
            _stand_in(node, values, inferred)
        except Exception as e:  # a malformed node (missing attribute, bad shapes): still report
            problems.append((node.label(), node.op_label(), "malformed or unexpected node "
                             "(%s: %s)" % (type(e).__name__, e)))
            _stand_in(node, values, inferred)
    outputs = _outputs(ctx, graph, values, problems)
    if problems:
        raise ConversionError(problems)
    out_shapes = [values[o.name].shape for o in graph.output]
    return list(in_shape), ctx.builder.layers, outputs, out_shapes
