"""Which names a notebook's shown cells, run as a plain script, would read before binding.

A tutorial's kernel runs the shown cells interleaved with hidden ones (glue and checks) and with
IPython's names at hand. The copy buttons give only the shown cells. This finds, by reading the
code (ast), every name those cells read that neither Python's builtins nor an earlier shown
statement binds, so that a tutorial need not be executed a second time as a script to know that
its shown code stands alone.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import jupytext

_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _bound(node: ast.AST) -> set[str]:
    """Names that running ``node`` binds in its own scope (not inside functions it defines)."""
    names: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Name) and isinstance(item.ctx, (ast.Store, ast.Del)):
            names.add(item.id)
        elif isinstance(item, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in item.names}
        elif isinstance(item, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and item.name:
            names.add(item.name)
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(item.name)
            if item is not node:
                continue
        if isinstance(item, (ast.Lambda, *_COMPREHENSIONS)):
            continue  # their names are their own (a walrus inside is not handled)
        stack.extend(ast.iter_child_nodes(item))
    return names


class _Reads(ast.NodeVisitor):
    """The names an expression reads, as free names: ``now`` when it is evaluated, ``later`` when
    the functions it defines are called. Parameters and names bound in a function's body, and a
    comprehension's targets, are local."""

    def __init__(self) -> None:
        self.now: set[str] = set()
        self.later: set[str] = set()
        self.local: frozenset[str] = frozenset()
        self.deferred = False

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and node.id not in self.local:
            (self.later if self.deferred else self.now).add(node.id)

    def _scope(self, nodes: list[ast.AST], local: set[str], deferred: bool) -> None:
        saved = self.local, self.deferred
        self.local, self.deferred = self.local | local, self.deferred or deferred
        for node in nodes:
            self.visit(node)
        self.local, self.deferred = saved

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node, [node.body])

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def _function(self, node: ast.AST, body: list[ast.AST]) -> None:
        arguments = node.args
        for default in [*arguments.defaults, *arguments.kw_defaults]:
            if default is not None:
                self.visit(default)
        for decorator in getattr(node, "decorator_list", []):
            self.visit(decorator)
        parameters = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        parameters += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
        local = {a.arg for a in parameters}.union(*(_bound(statement) for statement in body))
        self._scope(body, local, deferred=True)

    def _comprehension(self, node: ast.AST, results: list[ast.AST]) -> None:
        self.visit(node.generators[0].iter)  # evaluated in the enclosing scope
        targets = set().union(*(_bound(generator.target) for generator in node.generators))
        rest = [node.generators[0].target, *node.generators[0].ifs]
        for generator in node.generators[1:]:
            rest += [generator.iter, generator.target, *generator.ifs]
        self._scope([*rest, *results], targets, deferred=False)

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])


def _unbound(statements: list[ast.stmt], bound: set[str], later: set[str]) -> list[str]:
    """Names that ``statements``, run in order from a scope where ``bound`` is bound, would read
    before binding them; ``bound`` grows as they bind names, and ``later`` collects what the
    functions they define read when called."""
    missing: list[str] = []

    def reads(*nodes: ast.AST | None) -> None:
        visitor = _Reads()
        for node in nodes:
            if node is not None:
                visitor.visit(node)
        missing.extend(sorted(visitor.now - bound))
        later.update(visitor.later)

    for statement in statements:
        if isinstance(statement, (ast.For, ast.AsyncFor)):
            reads(statement.iter)
            bound |= _bound(statement.target)
            missing += _unbound([*statement.body, *statement.orelse], bound, later)
        elif isinstance(statement, (ast.While, ast.If)):
            reads(statement.test)
            missing += _unbound([*statement.body, *statement.orelse], bound, later)
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            for item in statement.items:
                reads(item.context_expr)
                if item.optional_vars is not None:
                    bound |= _bound(item.optional_vars)
            missing += _unbound(statement.body, bound, later)
        elif isinstance(statement, ast.Try):
            missing += _unbound(statement.body, bound, later)
            for handler in statement.handlers:
                reads(handler.type)
                bound |= {handler.name} - {None}
                missing += _unbound(handler.body, bound, later)
            missing += _unbound([*statement.orelse, *statement.finalbody], bound, later)
        elif isinstance(statement, ast.ClassDef):
            reads(*statement.decorator_list, *statement.bases, *statement.keywords)
            missing += _unbound(statement.body, set(bound), later)
            bound.add(statement.name)
        else:  # a simple statement, or a function definition (its body goes to `later`)
            reads(statement)
            bound |= _bound(statement)
    return missing


#: Tags of cells whose code a page does not show: glue and bookkeeping (``remove-cell``), and
#: checked claims, whose outputs stay as anchors for the ledger (``remove-input``).
HIDDEN_CODE = ("remove-cell", "remove-input")


def shown_cells(notebook: Path) -> list[str]:
    """The code cells a tutorial's page shows, in order: all but those tagged
    :data:`HIDDEN_CODE`."""
    return [
        cell.source
        for cell in jupytext.read(notebook).cells
        if cell.cell_type == "code" and not set(HIDDEN_CODE) & set(cell.metadata.get("tags", []))
    ]


def names_a_plain_script_lacks(cells: list[str]) -> list[str]:
    """The names that ``cells``, joined into one script, read and never bound before.

    Raises SyntaxError when a cell is not plain Python (magics, shell escapes, top-level await).
    """
    bound = set(dir(builtins)) | {"__file__"}  # what a script's module starts with
    later: set[str] = set()
    unbound = []
    for number, source in enumerate(cells, 1):
        compile(source, f"shown cell {number}", "exec")  # top-level await fails here, not in ast
        tree = ast.parse(source)
        unbound += [f"shown cell {number}: {name}" for name in _unbound(tree.body, bound, later)]
    return unbound + [f"a function's body: {name}" for name in sorted(later - bound)]
