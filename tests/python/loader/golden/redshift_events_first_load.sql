begin;

create temp table "new_staging_events" (like "staging"."staging_events");

copy "new_staging_events" ("artist", "ts", "user_id")
from 's3://udacity-dend/log_data/'
iam_role 'arn:aws:iam::123456789012:role/sparkify-redshift-s3-read'
format as json 's3://udacity-dend/log_json_path.json'
region 'us-west-2'
timeformat 'epochmillisecs'
maxerror 0
compupdate off statupdate off;

insert into "staging"."staging_events" ("artist", "ts", "user_id", "_batch_id", "_loaded_at")
select "artist", "ts", "user_id", '20261121T120000Z-abcdef', '2026-11-21 12:00:00' from "new_staging_events";

insert into "staging"."load_ledger" ("table_name", "object_key", "etag", "size_bytes", "rows_loaded", "rows_rejected", "batch_id", "source_uri", "loaded_at", "change", "rows_removed", "last_modified") values
  ('staging_events', 'log_data/2018/11/2018-11-01-events.json', '00000000000000000000000000000001', 1001, null, 0, '20261121T120000Z-abcdef', 's3://udacity-dend', '2026-11-21 12:00:00', 'added', 0, null),
  ('staging_events', 'log_data/2018/11/2018-11-02-events.json', '00000000000000000000000000000002', 1002, null, 0, '20261121T120000Z-abcdef', 's3://udacity-dend', '2026-11-21 12:00:00', 'added', 0, null),
  ('staging_events', 'log_data/2018/11/2018-11-03-events.json', '00000000000000000000000000000003', 1003, null, 0, '20261121T120000Z-abcdef', 's3://udacity-dend', '2026-11-21 12:00:00', 'added', 0, null);

drop table "new_staging_events";

commit;
