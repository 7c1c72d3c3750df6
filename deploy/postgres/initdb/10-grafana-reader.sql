-- Runs once, when the compose stack's PostgreSQL volume is first initialised (as the
-- `incidentd` superuser of deploy/compose.yaml). Grafana reads the incidents table through
-- this role; it can read whatever `incidentd migrate` creates later, and write nothing.
CREATE ROLE grafana_reader WITH LOGIN PASSWORD 'grafana_reader';
GRANT CONNECT ON DATABASE incidentd TO grafana_reader;
GRANT USAGE ON SCHEMA public TO grafana_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE incidentd IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
