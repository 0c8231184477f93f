-- A store written by enlighten-async before the kind registry (issue 20):
-- tests/store/test_store_format.py opens and resumes it. Made by SQLiteStore at
-- commit 1d020e5 from tests/support/store_samples (system 66, 2024-06-01 UTC).
BEGIN TRANSACTION;
CREATE TABLE claims (
    system_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (system_id, kind, start_at, end_at)
) WITHOUT ROWID;
CREATE TABLE consumption_stats (
    system_id INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    enwh INTEGER NOT NULL,
    devices_reporting INTEGER NOT NULL,
    PRIMARY KEY (system_id, end_at)
) WITHOUT ROWID;
INSERT INTO "consumption_stats" VALUES(66,1717200900,200,1);
INSERT INTO "consumption_stats" VALUES(66,1717201800,201,1);
INSERT INTO "consumption_stats" VALUES(66,1717202700,202,1);
INSERT INTO "consumption_stats" VALUES(66,1717203600,203,1);
CREATE TABLE energy_lifetime (
    system_id INTEGER NOT NULL,
    date TEXT NOT NULL,
    production INTEGER NOT NULL,
    micro_production INTEGER,
    meter_production INTEGER,
    PRIMARY KEY (system_id, date)
) WITHOUT ROWID;
INSERT INTO "energy_lifetime" VALUES(66,'2024-06-01',10,9,11);
INSERT INTO "energy_lifetime" VALUES(66,'2024-06-02',20,19,21);
INSERT INTO "energy_lifetime" VALUES(66,'2024-06-03',30,29,31);
CREATE TABLE rgm_meter_intervals (
    system_id INTEGER NOT NULL,
    meter_serial_number TEXT NOT NULL,
    channel INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    wh_del REAL,
    curr_w INTEGER,
    PRIMARY KEY (system_id, meter_serial_number, channel, end_at)
) WITHOUT ROWID;
INSERT INTO "rgm_meter_intervals" VALUES(66,'122100000001',0,1717200900,NULL,50);
INSERT INTO "rgm_meter_intervals" VALUES(66,'122100000001',0,1717201800,NULL,50);
INSERT INTO "rgm_meter_intervals" VALUES(66,'122100000001',0,1717202700,NULL,50);
INSERT INTO "rgm_meter_intervals" VALUES(66,'122100000001',0,1717203600,NULL,50);
INSERT INTO "rgm_meter_intervals" VALUES(66,'122100000001',1,1717200900,12.5,50);
INSERT INTO "rgm_meter_intervals" VALUES(66,'122100000001',1,1717201800,12.5,50);
INSERT INTO "rgm_meter_intervals" VALUES(66,'122100000001',1,1717202700,12.5,50);
INSERT INTO "rgm_meter_intervals" VALUES(66,'122100000001',1,1717203600,12.5,50);
CREATE TABLE rgm_stats (
    system_id INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    wh_del INTEGER NOT NULL,
    devices_reporting INTEGER NOT NULL,
    PRIMARY KEY (system_id, end_at)
) WITHOUT ROWID;
INSERT INTO "rgm_stats" VALUES(66,1717200900,40,1);
INSERT INTO "rgm_stats" VALUES(66,1717201800,41,1);
INSERT INTO "rgm_stats" VALUES(66,1717202700,42,1);
INSERT INTO "rgm_stats" VALUES(66,1717203600,43,1);
CREATE TABLE stats (
    system_id INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    powr INTEGER NOT NULL,
    enwh INTEGER NOT NULL,
    devices_reporting INTEGER NOT NULL,
    PRIMARY KEY (system_id, end_at)
) WITHOUT ROWID;
INSERT INTO "stats" VALUES(66,1717200300,100,8,3);
INSERT INTO "stats" VALUES(66,1717200600,101,9,3);
INSERT INTO "stats" VALUES(66,1717200900,102,10,3);
INSERT INTO "stats" VALUES(66,1717201200,103,11,3);
INSERT INTO "stats" VALUES(66,1717201500,104,12,3);
INSERT INTO "stats" VALUES(66,1717201800,105,13,3);
CREATE TABLE store_info (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO "store_info" VALUES('source_base_url','https://api.enphaseenergy.com/api/v2');
INSERT INTO "store_info" VALUES('source_salt','89b811b6a4c312f51faefbfc1c26a286');
INSERT INTO "store_info" VALUES('source_simulator','');
INSERT INTO "store_info" VALUES('source_user_hash','3fc4e61d2d85fd0f4886769ae0bc491a428e7420e432ca636917d8cd811fece8');
CREATE TABLE systems (
    system_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    last_report_at INTEGER,
    status TEXT
);
INSERT INTO "systems" VALUES(66,'Roof','America/Los_Angeles',1717286400,1717286400,'normal');
CREATE TABLE windows (
    system_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    start_at INTEGER NOT NULL,
    end_at INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (system_id, kind, start_at, end_at)
) WITHOUT ROWID;
INSERT INTO "windows" VALUES(66,'consumption_stats',1717200000,1717203600,4,1717290000);
INSERT INTO "windows" VALUES(66,'energy_lifetime',1717200000,1717372800,3,1717290000);
INSERT INTO "windows" VALUES(66,'rgm_stats',1717200000,1717203600,4,1717290000);
INSERT INTO "windows" VALUES(66,'stats',1717200000,1717201800,6,1717290000);
CREATE INDEX claims_by_owner ON claims (owner);
COMMIT;
