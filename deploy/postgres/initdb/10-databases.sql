-- Run once, on the first start of an empty PostgreSQL volume, as the user POSTGRES_USER (okr):
-- the databases of Airflow's metadata and MLflow's tracking store beside the warehouse (okr).
CREATE DATABASE airflow OWNER okr;
CREATE DATABASE mlflow OWNER okr;
