"""Switchboard switch service.

Owns one FreeSWITCH node's ESL link and live channel cache; call events on Kafka; gRPC CallControl.
"""
