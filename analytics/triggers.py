"""The change triggers of migration 0002, as plain functions so later migrations can reinstall them.

SQLite drops a table's triggers whenever Django rebuilds the table (most ``AlterField`` operations), so any
migration that alters ``analytics_blogview`` on SQLite must call ``reinstall_sqlite`` afterwards.
"""

VERSION_ROW = "INSERT INTO analytics_dataversion (id, value) VALUES (1, 0)"
# Row 2 is the catalogue token: a fresh random value whenever a blog, a country or a username changes (not on view
# writes). The fast path caches the catalogue under it (analytics/selectors/catalogue.py). Random rather than a
# counter, so a value never comes back after a rolled-back transaction or a restored backup with other data.
CATALOGUE_ROW = "INSERT INTO analytics_dataversion (id, value) VALUES (2, 0)"

POSTGRES_BUMP_VERSION = """
CREATE OR REPLACE FUNCTION analytics_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE analytics_dataversion SET value = value + 1 WHERE id = 1;
    UPDATE analytics_dataversion SET value = floor(random() * 9.0e18)::bigint WHERE id = 2;
    RETURN NULL;
END $$;
"""

# Migration 0002's insert trigger; 0017 replaces it with POSTGRES_INSERTED_LOGGED (below).
_POSTGRES_INSERTED_UNLOGGED = """
CREATE OR REPLACE FUNCTION analytics_views_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_viewchange (bucket)
    SELECT DISTINCT date_trunc('hour', "timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM new_rows;
    UPDATE analytics_dataversion SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END $$;
"""

POSTGRES_UP = (
    POSTGRES_BUMP_VERSION
    + _POSTGRES_INSERTED_UNLOGGED
    + """
CREATE FUNCTION analytics_views_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_viewchange (bucket)
    SELECT DISTINCT date_trunc('hour', "timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM old_rows;
    UPDATE analytics_dataversion SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_views_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_viewchange (bucket)
    SELECT DISTINCT date_trunc('hour', "timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    FROM (SELECT "timestamp" FROM old_rows UNION ALL SELECT "timestamp" FROM new_rows) AS touched;
    UPDATE analytics_dataversion SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END $$;

CREATE TRIGGER analytics_blogview_inserted AFTER INSERT ON analytics_blogview
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_views_inserted();
CREATE TRIGGER analytics_blogview_deleted AFTER DELETE ON analytics_blogview
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_views_deleted();
CREATE TRIGGER analytics_blogview_updated AFTER UPDATE ON analytics_blogview
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_views_updated();

CREATE TRIGGER analytics_blog_changed AFTER INSERT OR UPDATE OR DELETE ON analytics_blog
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_bump_version();
CREATE TRIGGER analytics_country_changed AFTER INSERT OR UPDATE OR DELETE ON analytics_country
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_bump_version();
CREATE TRIGGER analytics_username_changed AFTER UPDATE OF username OR DELETE ON auth_user
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_bump_version();
"""
)

POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS analytics_blogview_inserted ON analytics_blogview;
DROP TRIGGER IF EXISTS analytics_blogview_deleted ON analytics_blogview;
DROP TRIGGER IF EXISTS analytics_blogview_updated ON analytics_blogview;
DROP TRIGGER IF EXISTS analytics_blog_changed ON analytics_blog;
DROP TRIGGER IF EXISTS analytics_country_changed ON analytics_country;
DROP TRIGGER IF EXISTS analytics_username_changed ON auth_user;
DROP FUNCTION IF EXISTS analytics_views_inserted();
DROP FUNCTION IF EXISTS analytics_views_deleted();
DROP FUNCTION IF EXISTS analytics_views_updated();
DROP FUNCTION IF EXISTS analytics_bump_version();
"""

_SQLITE_HOUR = "strftime('%Y-%m-%d %H:00:00', {row}.\"timestamp\")"
_SQLITE_BUMP = "UPDATE analytics_dataversion SET value = value + 1 WHERE id = 1;"
_SQLITE_CATALOGUE_BUMP = _SQLITE_BUMP + " UPDATE analytics_dataversion SET value = random() WHERE id = 2;"
SQLITE_UP = [
    f"""CREATE TRIGGER analytics_blogview_inserted AFTER INSERT ON analytics_blogview BEGIN
        INSERT INTO analytics_viewchange (bucket) VALUES ({_SQLITE_HOUR.format(row="NEW")}); {_SQLITE_BUMP} END""",
    f"""CREATE TRIGGER analytics_blogview_deleted AFTER DELETE ON analytics_blogview BEGIN
        INSERT INTO analytics_viewchange (bucket) VALUES ({_SQLITE_HOUR.format(row="OLD")}); {_SQLITE_BUMP} END""",
    f"""CREATE TRIGGER analytics_blogview_updated AFTER UPDATE ON analytics_blogview BEGIN
        INSERT INTO analytics_viewchange (bucket) VALUES ({_SQLITE_HOUR.format(row="OLD")});
        INSERT INTO analytics_viewchange (bucket) VALUES ({_SQLITE_HOUR.format(row="NEW")}); {_SQLITE_BUMP} END""",
    *(
        f"CREATE TRIGGER analytics_{table}_{event.lower()} AFTER {event} ON analytics_{table} "
        f"BEGIN {_SQLITE_CATALOGUE_BUMP} END"
        for table in ("blog", "country")
        for event in ("INSERT", "UPDATE", "DELETE")
    ),
    (
        "CREATE TRIGGER analytics_username_updated AFTER UPDATE OF username ON auth_user "
        f"BEGIN {_SQLITE_CATALOGUE_BUMP} END"
    ),
    f"CREATE TRIGGER analytics_user_deleted AFTER DELETE ON auth_user BEGIN {_SQLITE_CATALOGUE_BUMP} END",
]
SQLITE_TRIGGERS = [
    "analytics_blogview_inserted",
    "analytics_blogview_deleted",
    "analytics_blogview_updated",
    *(f"analytics_{table}_{event}" for table in ("blog", "country") for event in ("insert", "update", "delete")),
    "analytics_username_updated",
    "analytics_user_deleted",
]


# --- the insertion log (migration 0017) ---------------------------------------------------------------------------
# The insert trigger marks its hours INSERTED ('i') and logs the rows as (quarter hour, blog, country key, views):
# analytics.models.ViewInsertion. A statement of more than LOGGED_ROWS_MAX rows (a backfill, a seed's COPY) marks
# its hours CHANGED ('c') and logs nothing: they read raw until the fold, as every change did before. Deletes and
# updates keep inserting bare markers, CHANGED by the column's default.
LOGGED_ROWS_MAX = 10_000

POSTGRES_INSERTED_LOGGED = f"""
CREATE OR REPLACE FUNCTION analytics_views_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM (SELECT 1 FROM new_rows LIMIT {LOGGED_ROWS_MAX + 1}) AS counted) > {LOGGED_ROWS_MAX} THEN
        INSERT INTO analytics_viewchange (bucket)
        SELECT DISTINCT date_trunc('hour', "timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM new_rows;
    ELSE
        INSERT INTO analytics_viewchange (bucket, kind)
        SELECT DISTINCT date_trunc('hour', "timestamp" AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', 'i' FROM new_rows;
        INSERT INTO analytics_viewinsertion (bucket, blog_id, country_key, views)
        SELECT (date_trunc('hour', utc) + (extract(minute FROM utc)::int / 15) * interval '15 minutes')
                   AT TIME ZONE 'UTC',
               blog_id, coalesce(country_id, 0), count(*)
        FROM (SELECT "timestamp" AT TIME ZONE 'UTC' AS utc, blog_id, country_id FROM new_rows) AS inserted
        GROUP BY 1, 2, 3;
    END IF;
    UPDATE analytics_dataversion SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END $$;
"""

_SQLITE_QUARTER = (
    "strftime('%Y-%m-%d %H:', NEW.\"timestamp\") "
    "|| printf('%02d', CAST(strftime('%M', NEW.\"timestamp\") AS INTEGER) / 15 * 15) || ':00'"
)
SQLITE_INSERTED_LOGGED = f"""CREATE TRIGGER analytics_blogview_inserted AFTER INSERT ON analytics_blogview BEGIN
    INSERT INTO analytics_viewchange (bucket, kind) VALUES ({_SQLITE_HOUR.format(row="NEW")}, 'i');
    INSERT INTO analytics_viewinsertion (bucket, blog_id, country_key, views)
    VALUES ({_SQLITE_QUARTER}, NEW.blog_id, coalesce(NEW.country_id, 0), 1); {_SQLITE_BUMP} END"""


def _sqlite_up(connection) -> list[str]:
    """The SQLite triggers as of the database's migrations: with the insertion log once its table exists."""
    if "analytics_viewinsertion" not in connection.introspection.table_names():
        return SQLITE_UP
    return [SQLITE_INSERTED_LOGGED, *SQLITE_UP[1:]]


def insertion_log_install(apps, schema_editor):
    """Migration 0017, forwards: the insert trigger logs what it inserts."""
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(POSTGRES_INSERTED_LOGGED)
    reinstall_sqlite(apps, schema_editor)


def insertion_log_uninstall(apps, schema_editor):
    """Migration 0017, backwards: the 0002 insert trigger on PostgreSQL; none on SQLite until the migration's first
    step, undone last, installs them again (``sqlite_triggers_drop``)."""
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_POSTGRES_INSERTED_UNLOGGED)
    sqlite_triggers_drop(apps, schema_editor)


def sqlite_triggers_drop(apps, schema_editor):
    """Before SQLite rebuilds a table the triggers name (``analytics_viewchange``): renaming the rebuilt table
    into place fails while a trigger names the one it replaces. ``reinstall_sqlite`` puts them back."""
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def install(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(VERSION_ROW)
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRES_UP)
        elif connection.vendor == "sqlite":
            for statement in SQLITE_UP:
                cursor.execute(statement)
        else:
            raise NotImplementedError(f"No change triggers for {connection.vendor}; see docs/design.md.")


def uninstall(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRES_DOWN)
        else:
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        cursor.execute("DELETE FROM analytics_dataversion WHERE id = 1")


def reinstall_sqlite(apps, schema_editor):
    """Recreate the SQLite triggers (idempotent); PostgreSQL keeps its triggers across ALTER TABLE."""
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    sqlite_triggers_drop(apps, schema_editor)
    with connection.cursor() as cursor:
        for statement in _sqlite_up(connection):
            cursor.execute(statement)


def catalogue_token_install(apps, schema_editor):
    """Migration 0006: the catalogue token row, and the triggers that renew it (idempotent)."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM analytics_dataversion WHERE id = 2")
        cursor.execute(CATALOGUE_ROW)
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRES_BUMP_VERSION)
    reinstall_sqlite(apps, schema_editor)


def catalogue_token_uninstall(apps, schema_editor):
    """Without row 2 the triggers' second UPDATE matches nothing: the 0002 behaviour."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DELETE FROM analytics_dataversion WHERE id = 2")


# --- the catalogue log (migration 0011, PostgreSQL) -------------------------------------------------------------
# What changed in the catalogue, by the writing transaction's id, so a process can bring its cached listing up to
# date by reading only that (analytics/selectors/catalogue.py, ``listing_follow``): a reader names the changes its
# listing has not seen with ``NOT pg_visible_in_snapshot(xid, <the listing's snapshot>)``, exact under concurrent
# commits where a sequence number would miss a lower number committed later. ``kind``: 'b' a blog (``blog_id``)
# was inserted, updated or deleted; 'u' usernames changed (a listing forgets the ones it remembered); 'r' a change
# the listing cannot follow (a TRUNCATE, a pruning of the log): read it whole. Countries need no row: a listing
# that follows reads them again (a few hundred rows at most); their triggers only renew the token. Not a Django
# model, so a test's flush never empties it (a TRUNCATE of the catalogue tables logs an 'r' instead).
CATALOGUE_LOG_UP = """
CREATE FUNCTION analytics_bump_catalogue() RETURNS void LANGUAGE sql AS $$
    UPDATE analytics_dataversion SET value = value + 1 WHERE id = 1;
    UPDATE analytics_dataversion SET value = floor(random() * 9.0e18)::bigint WHERE id = 2;
$$;

CREATE TABLE analytics_cataloguelog (
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    kind char(1) NOT NULL CHECK (kind IN ('b', 'u', 'r')),
    blog_id bigint CHECK ((kind = 'b') = (blog_id IS NOT NULL))
);
CREATE INDEX analytics_cataloguelog_xid ON analytics_cataloguelog (xid);

CREATE FUNCTION analytics_blogs_logged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO analytics_cataloguelog (kind, blog_id) SELECT 'b', id FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO analytics_cataloguelog (kind, blog_id) SELECT 'b', id FROM old_rows;
    ELSE
        INSERT INTO analytics_cataloguelog (kind, blog_id)
        SELECT 'b', id FROM (SELECT id FROM new_rows UNION SELECT id FROM old_rows) AS touched;
    END IF;
    PERFORM analytics_bump_catalogue();
    RETURN NULL;
END $$;

-- A user saved whole (a password change, the admin) updates its username column too: only a new name counts.
CREATE FUNCTION analytics_usernames_logged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NOT EXISTS (SELECT 1 FROM old_rows JOIN new_rows USING (id) WHERE old_rows.username <> new_rows.username)
        THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO analytics_cataloguelog (kind) VALUES ('u');
    PERFORM analytics_bump_catalogue();
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_catalogue_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_cataloguelog (kind) VALUES ('r');
    PERFORM analytics_bump_catalogue();
    RETURN NULL;
END $$;

CREATE FUNCTION analytics_catalogue_bumped() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM analytics_bump_catalogue();
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS analytics_blog_changed ON analytics_blog;
DROP TRIGGER IF EXISTS analytics_country_changed ON analytics_country;
DROP TRIGGER IF EXISTS analytics_username_changed ON auth_user;
CREATE TRIGGER analytics_blog_inserted AFTER INSERT ON analytics_blog
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_blogs_logged();
CREATE TRIGGER analytics_blog_updated AFTER UPDATE ON analytics_blog
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_blogs_logged();
CREATE TRIGGER analytics_blog_deleted AFTER DELETE ON analytics_blog
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_blogs_logged();
CREATE TRIGGER analytics_blog_truncated AFTER TRUNCATE ON analytics_blog
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_catalogue_reset();
CREATE TRIGGER analytics_country_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analytics_country
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_catalogue_bumped();
CREATE TRIGGER analytics_username_changed AFTER UPDATE ON auth_user
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_usernames_logged();
CREATE TRIGGER analytics_user_deleted AFTER DELETE ON auth_user
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_usernames_logged();
CREATE TRIGGER analytics_user_truncated AFTER TRUNCATE ON auth_user
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_catalogue_reset();
"""

CATALOGUE_LOG_DOWN = """
DROP TRIGGER IF EXISTS analytics_blog_inserted ON analytics_blog;
DROP TRIGGER IF EXISTS analytics_blog_updated ON analytics_blog;
DROP TRIGGER IF EXISTS analytics_blog_deleted ON analytics_blog;
DROP TRIGGER IF EXISTS analytics_blog_truncated ON analytics_blog;
DROP TRIGGER IF EXISTS analytics_country_changed ON analytics_country;
DROP TRIGGER IF EXISTS analytics_username_changed ON auth_user;
DROP TRIGGER IF EXISTS analytics_user_deleted ON auth_user;
DROP TRIGGER IF EXISTS analytics_user_truncated ON auth_user;
DROP FUNCTION IF EXISTS analytics_blogs_logged();
DROP FUNCTION IF EXISTS analytics_usernames_logged();
DROP FUNCTION IF EXISTS analytics_catalogue_reset();
DROP FUNCTION IF EXISTS analytics_catalogue_bumped();
DROP FUNCTION IF EXISTS analytics_bump_catalogue();
DROP TABLE IF EXISTS analytics_cataloguelog;
CREATE TRIGGER analytics_blog_changed AFTER INSERT OR UPDATE OR DELETE ON analytics_blog
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_bump_version();
CREATE TRIGGER analytics_country_changed AFTER INSERT OR UPDATE OR DELETE ON analytics_country
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_bump_version();
CREATE TRIGGER analytics_username_changed AFTER UPDATE OF username OR DELETE ON auth_user
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_bump_version();
"""


def catalogue_log_install(apps, schema_editor):
    """Migration 0011 (PostgreSQL only; SQLite keeps reading the listing whole when the token changes)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(CATALOGUE_LOG_UP)


def catalogue_log_uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(CATALOGUE_LOG_DOWN)
