"""The orchestration suite uses the session's ``prefect_server`` and ``fleet_home`` (:mod:`tests.fleet`)."""
