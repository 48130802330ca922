"""The local dev rig: demo, loopback Slack, SMTP and feed servers, synthetic articles.

Development and tests only: nothing at run time imports it, and the Docker image
leaves it out (it needs aiosmtpd, a dev dependency).
"""
