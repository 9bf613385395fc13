"""The production topology on one host: `purehealth deploy up|down|status|restart`.

topology.py says what runs (pure), health.py how each process shows it is healthy, supervisor.py keeps them
running, cli.py is the command. The Dagster instance of the deployment is deploy/dagster.yaml in the project.
"""
