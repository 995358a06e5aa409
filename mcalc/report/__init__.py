"""One PDF per case for the audit: images as shown, marks, the model's maps, verdicts.

See :func:`mcalc.report.case.case_report`.
"""

from mcalc.report.case import ReportImage, case_report, write_case_report

__all__ = ["ReportImage", "case_report", "write_case_report"]
