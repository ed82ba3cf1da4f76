-- Run once by the mysql image when its data volume is created
-- (/docker-entrypoint-initdb.d). The accounts carry exactly the grants that
-- docs/mysql.md ("Privileges") and README ("mcsqueal heartbeat") document.

-- The tailer: reads the binlog like a replica, nothing else.
CREATE USER 'mcsqueal'@'%' IDENTIFIED BY 'mcsqueal-demo';
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'mcsqueal'@'%';

-- The heartbeat: upserts its probe row in mcsqueal.heartbeat (it creates the
-- table; the database is created here, which a table grant cannot do).
CREATE DATABASE mcsqueal;
CREATE USER 'mcsqueal_heartbeat'@'%' IDENTIFIED BY 'mcsqueal-demo';
GRANT CREATE, INSERT, UPDATE ON mcsqueal.heartbeat TO 'mcsqueal_heartbeat'@'%';

-- The example application (docker/app/app.sh) and its table.
CREATE DATABASE shop;
CREATE TABLE shop.users (
  id INT PRIMARY KEY,
  name VARCHAR(64) NOT NULL,
  visits BIGINT NOT NULL DEFAULT 0
);
INSERT INTO shop.users (id, name) VALUES (1, 'ada'), (2, 'brian'), (3, 'grace'), (4, 'ken'), (5, 'linus');
CREATE USER 'app'@'%' IDENTIFIED BY 'app-demo';
GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO 'app'@'%';
