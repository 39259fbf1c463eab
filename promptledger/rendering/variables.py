"""Which variables a template needs: a flow analysis of the parsed template.

A variable is *required* when every path through the template reads it from the
caller's variables: read with no ``default`` and no ``is defined`` guard, before
any assignment on that path. It is *optional* when some path may read it. Names a
template assigns itself on every path that reads them (``{% set %}`` in both
branches, loop targets, macro arguments), names read only in macros that are never
called, and the renderer's own names are neither.

The analysis under-approximates "required": when in doubt a name is optional, and a
render that really reads a missing optional name still fails with its name and
line. So the pre-render check never refuses a template that stock Jinja renders.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jinja2 import nodes

# Filters that accept an undefined operand: ``default``, and ``items`` (which gives
# nothing for an undefined value). Every test accepts one too (``x is defined``,
# ``x is none``): StrictUndefined fails only when used, not when tested.
_GUARD_FILTERS = frozenset({"default", "d", "items"})
_MACRO_NAMES = frozenset({"varargs", "kwargs", "caller"})


@dataclass(frozen=True)
class VariableUse:
    """``required``: read from the variables on every path; ``optional``: on some."""

    required: frozenset[str]
    optional: frozenset[str]

    @property
    def names(self) -> frozenset[str]:
        return self.required | self.optional


@dataclass
class _Reads:
    must: set[str] = field(default_factory=set)
    may: set[str] = field(default_factory=set)

    def add(self, other: _Reads) -> None:
        self.must |= other.must
        self.may |= other.may


@dataclass(frozen=True)
class _MacroSummary:
    must: frozenset[str]
    may: frozenset[str]


@dataclass(frozen=True)
class _Scope:
    """Names the template assigned itself: ``sure`` on every path so far, ``maybe`` on
    some (a read of a ``maybe`` name may come from the caller, or may not)."""

    sure: frozenset[str] = frozenset()
    maybe: frozenset[str] = frozenset()

    def __or__(self, names) -> _Scope:
        names = frozenset(names)
        return _Scope(self.sure | names, self.maybe | names)

    def __contains__(self, name: object) -> bool:
        return name in self.sure

    def join(self, other: _Scope) -> _Scope:
        """After two alternative paths."""
        return _Scope(self.sure & other.sure, self.maybe | other.maybe)


def _stored_names(target: nodes.Node) -> set[str]:
    if isinstance(target, nodes.Name):
        return {target.name}
    return {n.name for n in target.find_all(nodes.Name) if n.ctx in ("store", "param")}


class _Analysis:
    def __init__(self, provided: frozenset[str]) -> None:
        self.provided = provided
        self.macros: dict[str, _MacroSummary] = {}

    # -- expressions: (must, may) read from the caller's variables

    def expr(self, node: nodes.Node | None, assigned: _Scope) -> _Reads:
        reads = _Reads()
        if node is None:
            return reads
        if isinstance(node, nodes.Name):
            name = node.name
            if node.ctx != "load" or name in self.provided or name == "self":
                return reads
            if name in assigned:
                macro = self.macros.get(name)
                if macro is not None:  # a reference to a macro may call it
                    reads.may |= macro.may - assigned.sure
                return reads
            if name not in assigned.maybe:
                reads.must.add(name)
            reads.may.add(name)
            return reads
        if isinstance(node, (nodes.Filter, nodes.Test)):
            guarded = isinstance(node.node, nodes.Name) and (
                isinstance(node, nodes.Test) or node.name in _GUARD_FILTERS
            )
            operand = self.expr(node.node, assigned)
            if guarded:
                reads.may |= operand.may
            else:
                reads.add(operand)
            for arg in self._arguments(node):
                reads.add(self.expr(arg, assigned))
            return reads
        if isinstance(node, nodes.Call):
            reads.add(self.expr(node.node, assigned))
            for arg in self._arguments(node):
                reads.add(self.expr(arg, assigned))
            target = node.node
            if isinstance(target, nodes.Name) and target.name in assigned:
                macro = self.macros.get(target.name)
                if macro is not None:
                    reads.must |= macro.must - assigned.sure - assigned.maybe
                    reads.may |= macro.may - assigned.sure
            return reads
        if isinstance(node, (nodes.And, nodes.Or)):
            left = self.expr(node.left, assigned)
            right = self.expr(node.right, assigned)
            reads.add(left)
            reads.may |= right.may
            return reads
        if isinstance(node, nodes.CondExpr):
            test = self.expr(node.test, assigned)
            first = self.expr(node.expr1, assigned)
            second = self.expr(node.expr2, assigned)
            reads.add(test)
            reads.must |= first.must & second.must if node.expr2 is not None else set()
            reads.may |= first.may | second.may
            return reads
        if isinstance(node, nodes.NSRef):
            return self.expr(nodes.Name(node.name, "load"), assigned)
        for child in node.iter_child_nodes():
            reads.add(self.expr(child, assigned))
        return reads

    @staticmethod
    def _arguments(node: nodes.Node) -> list:
        args = list(node.args) + [kw.value for kw in node.kwargs]
        return args + [x for x in (node.dyn_args, node.dyn_kwargs) if x is not None]

    # -- statements: (reads, names definitely assigned afterwards)

    def block(self, body: list, assigned: _Scope) -> tuple[_Reads, _Scope]:
        reads = _Reads()
        for stmt in body:
            step, assigned = self.stmt(stmt, assigned)
            reads.add(step)
        return reads, assigned

    def _maybe(self, body: list, assigned: _Scope) -> _Reads:
        """A body that may not run (loop body, macro body): its reads are all optional."""
        reads, _ = self.block(body, assigned)
        return _Reads(may=reads.may)

    def stmt(self, node: nodes.Node, assigned: _Scope) -> tuple[_Reads, _Scope]:
        if isinstance(node, nodes.Output):
            reads = _Reads()
            for child in node.nodes:
                reads.add(self.expr(child, assigned))
            return reads, assigned
        if isinstance(node, nodes.If):
            reads = self.expr(node.test, assigned)
            then_reads, then_assigned = self.block(node.body, assigned)
            if node.elif_:
                rest = nodes.If(node.elif_[0].test, node.elif_[0].body, node.elif_[1:], node.else_)
                else_reads, else_assigned = self.stmt(rest, assigned)
            else:
                else_reads, else_assigned = self.block(node.else_, assigned)
            reads.must |= then_reads.must & else_reads.must
            reads.may |= then_reads.may | else_reads.may
            return reads, then_assigned.join(else_assigned)
        if isinstance(node, nodes.Assign):
            reads = self.expr(node.node, assigned)
            if isinstance(node.target, nodes.NSRef):
                reads.add(self.expr(node.target, assigned))
                return reads, assigned
            return reads, assigned | _stored_names(node.target)
        if isinstance(node, nodes.AssignBlock):
            reads, _ = self.block(node.body, assigned)
            reads.add(self.expr(node.filter, assigned))
            if isinstance(node.target, nodes.NSRef):
                reads.add(self.expr(node.target, assigned))
                return reads, assigned
            return reads, assigned | _stored_names(node.target)
        if isinstance(node, nodes.For):
            reads = self.expr(node.iter, assigned)
            inner = assigned | _stored_names(node.target) | {"loop"}
            loop_reads = self.expr(node.test, inner)
            loop_reads.add(self._maybe(node.body, inner))
            loop_reads.add(self._maybe(node.else_, assigned))
            reads.may |= loop_reads.may
            return reads, assigned  # assignments inside a loop stay inside it
        if isinstance(node, nodes.Macro):
            params = assigned | {arg.name for arg in node.args} | _MACRO_NAMES | {node.name}
            body, _ = self.block(node.body, params)
            defaults = _Reads()
            for default in node.defaults:
                defaults.add(self.expr(default, _Scope()))
            self.macros[node.name] = _MacroSummary(
                must=frozenset(body.must), may=frozenset(body.may | defaults.may)
            )
            return _Reads(), assigned | {node.name}
        if isinstance(node, nodes.CallBlock):
            reads = self.expr(node.call, assigned)
            params = assigned | frozenset(arg.name for arg in node.args) | _MACRO_NAMES
            reads.add(self._maybe(node.body, params))
            return reads, assigned
        if isinstance(node, nodes.FilterBlock):
            reads, _ = self.block(node.body, assigned)
            reads.add(self.expr(node.filter, assigned))
            return reads, assigned
        if isinstance(node, nodes.With):
            reads = _Reads()
            inner = assigned
            for target, value in zip(node.targets, node.values, strict=False):
                reads.add(self.expr(value, assigned))
                inner = inner | _stored_names(target)
            body, _ = self.block(node.body, inner)
            reads.add(body)
            return reads, assigned
        if isinstance(node, (nodes.Block, nodes.Scope, nodes.ScopedEvalContextModifier)):
            reads, _ = self.block(node.body, assigned)
            return reads, assigned
        if isinstance(node, nodes.ExprStmt):
            return self.expr(node.node, assigned), assigned
        # anything else: whatever it reads, it may read
        reads = _Reads()
        for child in node.iter_child_nodes():
            if isinstance(child, nodes.Stmt):
                step, _ = self.stmt(child, assigned)
            else:
                step = self.expr(child, assigned)
            reads.may |= step.may
        return reads, assigned


def analyze_variables(ast: nodes.Template, provided: frozenset[str]) -> VariableUse:
    """The variables a parsed template reads; ``provided`` are the renderer's names."""
    reads, _ = _Analysis(provided).block(ast.body, _Scope())
    return VariableUse(required=frozenset(reads.must), optional=frozenset(reads.may - reads.must))
