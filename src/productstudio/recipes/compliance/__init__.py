"""Marketplace compliance: the ``rules:`` of a recipe, how an image is measured, the checks
and the report.

=============  ======================================================================
module         what lives there
=============  ======================================================================
``rules``      the rule models (the ``rules:`` section of a recipe YAML; one class a rule)
``measure``    measuring: product mask, background purity, fill, borders, JPEG quality
``check``      the checks: measurements + rules → verdicts (:func:`check_file`)
``report``     :class:`Status`, :class:`RuleResult`, :class:`ComplianceReport`
``fix``        ``check --fix``: a fix that never makes a rule worse (:func:`fix_image`)
=============  ======================================================================

Example::

    from productstudio.recipes import load_recipe
    from productstudio.recipes.compliance import check_file

    report = check_file("out/shoe.jpg", load_recipe("amazon-main").rules)
    report.verdict, [r.status for r in report.results]
"""

from productstudio.recipes.compliance.check import check_file, check_loaded
from productstudio.recipes.compliance.measure import (
    Measure,
    Purity,
    default_text_detector,
    detect_border,
    estimate_jpeg_quality,
)
from productstudio.recipes.compliance.report import ComplianceReport, RuleResult, Status
from productstudio.recipes.compliance.rules import Rule, Rules, Severity

__all__ = [
    "ComplianceReport",
    "Measure",
    "Purity",
    "Rule",
    "RuleResult",
    "Rules",
    "Severity",
    "Status",
    "check_file",
    "check_loaded",
    "default_text_detector",
    "detect_border",
    "estimate_jpeg_quality",
]
