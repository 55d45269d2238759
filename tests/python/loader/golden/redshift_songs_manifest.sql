begin;

create temp table "new_staging_songs" (like "staging"."staging_songs");

copy "new_staging_songs" ("num_songs", "artist_id", "artist_latitude", "artist_longitude", "artist_location", "artist_name", "song_id", "title", "duration", "year")
from 's3://my-bucket/manifests/staging_songs/20261121T120000Z-abcdef.manifest'
iam_role 'arn:aws:iam::123456789012:role/sparkify-redshift-s3-read'
format as json 'auto'
region 'us-west-2'
manifest
maxerror 0
compupdate off statupdate off;

insert into "staging"."staging_songs" ("num_songs", "artist_id", "artist_latitude", "artist_longitude", "artist_location", "artist_name", "song_id", "title", "duration", "year", "_batch_id", "_loaded_at")
select "num_songs", "artist_id", "artist_latitude", "artist_longitude", "artist_location", "artist_name", "song_id", "title", "duration", "year", '20261121T120000Z-abcdef', '2026-11-21 12:00:00' from "new_staging_songs";

insert into "staging"."load_ledger" ("table_name", "object_key", "etag", "size_bytes", "rows_loaded", "rows_rejected", "batch_id", "source_uri", "loaded_at", "change", "rows_removed", "last_modified") values
  ('staging_songs', 'song_data/A/A/A/2018-11-02-events.json', '00000000000000000000000000000002', 1002, null, 0, '20261121T120000Z-abcdef', 's3://udacity-dend', '2026-11-21 12:00:00', 'added', 0, null);

drop table "new_staging_songs";

commit;
