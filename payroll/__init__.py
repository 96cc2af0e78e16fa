"""Payroll: employees, attendance, salaries, payslips and statutory reports."""
