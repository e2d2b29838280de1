"""Checks across the nodes of a flow, run when a flow is saved.

Every problem names the node and the field at fault; all problems are reported at once in
one `ValidationFailed` (error id `invalid-flow`, details `problems: [{node, field, problem}]`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from switchboard_ivr.domain.model import (
    BUILTIN_VARIABLES,
    AnyNode,
    BlacklistNode,
    BranchNode,
    CollectNode,
    Condition,
    Flow,
    HttpNode,
    SetNode,
    SurveyNode,
    invalid_flow,
    parse_flow,
    problem,
)

Problem = dict[str, str | None]
Graph = dict[str, list[tuple[str, str]]]


def check_flow(
    document: Mapping[str, Any] | str | bytes, prompts: Collection[str] | None = None
) -> Flow:
    """Parse (JSON, YAML or a mapping) and validate a flow: what a save does."""
    flow = parse_flow(document)
    validate_flow(flow, prompts)
    return flow


def validate_flow(flow: Flow, prompts: Collection[str] | None = None) -> None:
    """Raise ValidationFailed listing every problem; `prompts` is the tenant's prompt ids
    (prompts are not checked when it is None)."""
    problems = flow_problems(flow, prompts)
    if problems:
        raise invalid_flow(problems)


def flow_problems(flow: Flow, prompts: Collection[str] | None = None) -> list[Problem]:
    problems: list[Problem] = []
    problems += _identity_problems(flow)
    for node in flow.nodes:
        problems += _node_problems(flow, node, prompts)
    graph = _graph(flow)
    if flow.node(flow.start) is not None:
        problems += _reachability_problems(flow, graph)
        problems += _loop_problems(flow, graph)
    return problems


def _identity_problems(flow: Flow) -> list[Problem]:
    problems: list[Problem] = []
    if flow.node(flow.start) is None:
        problems.append(problem(None, "start", f"start node {flow.start} does not exist"))
    seen: dict[str, int] = {}
    for index, node in enumerate(flow.nodes):
        if node.id in seen:
            problems.append(
                problem(node.id, "id", f"duplicate node id (also nodes[{seen[node.id]}])")
            )
        else:
            seen[node.id] = index
    return problems


def _node_problems(flow: Flow, node: AnyNode, prompts: Collection[str] | None) -> list[Problem]:
    problems: list[Problem] = []
    for field, target in node.targets():
        if flow.node(target) is None:
            problems.append(problem(node.id, field, f"target {target} does not exist"))
    if prompts is not None:
        for field, prompt in node.prompt_refs():
            if prompt not in prompts:
                problems.append(problem(node.id, field, f"unknown prompt {prompt}"))
    for field, text in _field_problems(node):
        problems.append(problem(node.id, field, text))
    return problems


def _assigned(node: AnyNode) -> Iterable[tuple[str, str]]:
    if isinstance(node, SetNode):
        for name in node.values:
            yield f"values.{name}", name
    elif isinstance(node, CollectNode):
        yield "variable", node.variable
    elif isinstance(node, HttpNode):
        for name in node.map:
            yield f"map.{name}", name


def _field_problems(node: AnyNode) -> Iterable[tuple[str, str]]:
    for field, name in _assigned(node):
        if name in BUILTIN_VARIABLES:
            yield field, f"{name} is set by the call and cannot be assigned"
    if isinstance(node, CollectNode) and node.min_length > node.max_length:
        yield "max_length", f"smaller than min_length ({node.min_length})"
    if isinstance(node, BlacklistNode) and node.action == "route" and node.route_to is None:
        yield "route_to", "required when action is route"
    if isinstance(node, SurveyNode):
        seen: set[str] = set()
        for index, question in enumerate(node.questions):
            if question.id in seen:
                yield f"questions[{index}].id", f"duplicate question id {question.id}"
            seen.add(question.id)
    if isinstance(node, BranchNode):
        for case_index, case in enumerate(node.cases):
            for index, condition in enumerate(case.when):
                text = _condition_problem(condition)
                if text:
                    yield f"cases[{case_index}].when[{index}].value", text


def _condition_problem(condition: Condition) -> str | None:
    value = condition.value
    if condition.op == "exists":
        return None
    if condition.op == "in":
        return None if isinstance(value, list) else "op 'in' needs a list"
    if condition.op == "matches":
        if not isinstance(value, str):
            return "op 'matches' needs a regular expression"
        try:
            re.compile(value)
        except re.error as exc:
            return f"not a valid regular expression: {exc}"
        return None
    if condition.op in ("==", "!="):
        if isinstance(value, list | dict):
            return f"op {condition.op!r} needs a single value"
        return None
    if condition.op == "starts_with":
        return None if isinstance(value, str) and value else "op 'starts_with' needs text"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return f"op {condition.op!r} needs a number or text"
    return None


# ---------------------------------------------------------------- graph checks


def _graph(flow: Flow) -> Graph:
    """Edges between existing nodes (first definition of a duplicated id wins)."""
    graph: Graph = {}
    for node in flow.nodes:
        if node.id in graph:
            continue
        graph[node.id] = [
            (field, target) for field, target in node.targets() if flow.node(target) is not None
        ]
    return graph


def _reachable(graph: Graph, roots: Iterable[str]) -> set[str]:
    seen = set(roots)
    stack = list(seen)
    while stack:
        for _, target in graph[stack.pop()]:
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _reachability_problems(flow: Flow, graph: Graph) -> list[Problem]:
    reachable = _reachable(graph, [flow.start])
    return [
        problem(node_id, "id", "unreachable from the start node")
        for node_id in graph
        if node_id not in reachable
    ]


def _components(graph: Graph) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative), nodes in declaration order."""
    order = {node_id: position for position, node_id in enumerate(graph)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node_id, edge = work[-1]
            edges = graph[node_id]
            if edge < len(edges):
                work[-1] = (node_id, edge + 1)
                target = edges[edge][1]
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, 0))
                elif target in on_stack:
                    low[node_id] = min(low[node_id], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node_id])
            if low[node_id] == index[node_id]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node_id:
                        break
                components.append(sorted(component, key=order.__getitem__))
    return components


def _cycle(graph: Graph, members: set[str], first: str) -> tuple[list[str], str, str]:
    """A concrete cycle through `first` inside a component, and the edge closing it."""
    parents: dict[str, tuple[str, str]] = {}
    queue = [first]
    for current in queue:
        for field, target in graph[current]:
            if target not in members:
                continue
            if target == first:
                path = [current]
                while path[-1] != first:
                    path.append(parents[path[-1]][0])
                path.reverse()
                return [*path, first], current, field
            if target not in parents:
                parents[target] = (current, field)
                queue.append(target)
    raise AssertionError("a strongly connected component always has a cycle")


def _loop_problems(flow: Flow, graph: Graph) -> list[Problem]:
    exits = {node.id for node in flow.nodes if node.can_end_run}
    reverse: Graph = {node_id: [] for node_id in graph}
    for node_id, edges in graph.items():
        for field, target in edges:
            reverse[target].append((field, node_id))
    can_exit = _reachable(reverse, exits & graph.keys())
    problems: list[Problem] = []
    for component in _components(graph):
        members = set(component)
        first = component[0]
        if len(component) == 1 and all(target != first for _, target in graph[first]):
            continue
        cycle, closing_node, closing_field = _cycle(graph, members, first)
        loop = " → ".join(cycle)
        waits = [node_id for node_id in component if _node(flow, node_id).waits_for_caller]
        if not waits:
            problems.append(
                problem(closing_node, closing_field, f"loop {loop} never waits for caller input")
            )
        elif first not in can_exit:
            problems.append(
                problem(
                    closing_node,
                    closing_field,
                    f"loop {loop} has no way out to a hangup, queue, transfer or voicemail",
                )
            )
    return problems


def _node(flow: Flow, node_id: str) -> AnyNode:
    node = flow.node(node_id)
    if node is None:
        raise KeyError(node_id)
    return node
