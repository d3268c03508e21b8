"""What a check finds: one result per check, and the whole run's report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PASS, FAIL, NOT_SUPPORTED = "pass", "fail", "not supported"
STATUSES = (PASS, FAIL, NOT_SUPPORTED)


@dataclass
class CheckResult:
    """One check's outcome and the evidence behind it (what was sent and seen)."""

    #: Dotted name, e.g. ``security.unsigned``: its first part is the category.
    name: str
    #: ``pass``, ``fail`` or ``not supported`` (the kernel does not offer the feature, or
    #: the checker cannot test it here: no code snippets for the language, no pid, ...).
    status: str
    #: One line a kernel author can act on.
    evidence: str

    @property
    def category(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass
class CheckReport:
    """Every result of one run, with what is known about the kernel checked."""

    kernel: dict[str, Any] = field(default_factory=dict)
    results: list[CheckResult] = field(default_factory=list)

    def add(self, name: str, status: str, evidence: str) -> CheckResult:
        if status not in STATUSES:
            raise ValueError(f"unknown check status {status!r}")
        result = CheckResult(name, status, evidence)
        self.results.append(result)
        return result

    def get(self, name: str) -> CheckResult:
        """The result of the check ``name`` (KeyError when it did not run)."""
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return any(result.name == name for result in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [result for result in self.results if result.status == FAIL]

    def to_json(self) -> dict[str, Any]:
        counts = {status: 0 for status in STATUSES}
        for result in self.results:
            counts[result.status] += 1
        return {
            "kernel": self.kernel,
            "summary": counts,
            "results": [asdict(result) for result in self.results],
        }
