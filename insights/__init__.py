"""The analysts' answers: run the questions in analyses/ against any target, print them as
tables and draw the dashboards (PNG). `python -m insights --help`."""
